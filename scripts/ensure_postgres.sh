#!/usr/bin/env bash
# The PostgreSQL study tests start a throwaway server from Debian's binaries (initdb, pg_ctl under
# /usr/lib/postgresql/*/bin). Install the package when they are missing; the tests skip without them.
set -u
if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's postgresql for the tune --storage postgresql:// tests..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
    || echo "Could not install postgresql; the PostgreSQL tests will be skipped."
else
  echo "No PostgreSQL server binaries and no root apt-get: the PostgreSQL tests will be skipped."
fi
exit 0
