#!/usr/bin/env bash
# Debian packages that some tests drive for real, installed when missing:
#   chromium    the browser tests: Playwright drives /usr/bin/chromium (never `playwright install`,
#               which downloads a browser build and cannot work offline)
#   postgresql  the `tune --storage postgresql://` tests: a throwaway server from initdb and pg_ctl
#               under /usr/lib/postgresql/*/bin
# Without root apt-get, the tests that need a missing package skip, saying so.
set -u
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's ${missing[*]} for the tests..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
    || echo "Could not install ${missing[*]}; the tests that need it will be skipped."
else
  echo "No ${missing[*]} and no root apt-get: the tests that need it will be skipped."
fi
exit 0
