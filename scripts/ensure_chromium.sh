#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright (never `playwright install`, which
# downloads a browser build and cannot work offline). Install the package when it is missing.
set -u
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "Could not install chromium; browser tests will be skipped."
else
  echo "No /usr/bin/chromium and no root apt-get: browser tests will be skipped."
fi
exit 0
