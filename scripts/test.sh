#!/usr/bin/env bash
# The test command (README): installs what the tests need, then lints and runs the suite.
# Idempotent; safe on a fresh Debian machine as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

# 1. The real peers the interop tests drive (Debian packages): radclient/radtest, eapol_test,
#    and for the wired 802.1X run hostapd (authenticator) and wpa_supplicant (supplicant).
need_apt=()
command -v radclient >/dev/null 2>&1 || need_apt+=(freeradius-utils)
command -v eapol_test >/dev/null 2>&1 || need_apt+=(eapoltest)
command -v hostapd >/dev/null 2>&1 || need_apt+=(hostapd)
command -v wpa_supplicant >/dev/null 2>&1 || need_apt+=(wpasupplicant)
#    TACACS+: Perl's Authen::TacacsPlus (the tacacs_plus client comes from PyPI, with .[dev]).
perl -MAuthen::TacacsPlus -e 1 >/dev/null 2>&1 || need_apt+=(libauthen-tacacsplus-perl)
#    The web console's browser test: Playwright drives Debian's chromium (no `playwright install`).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
#    DHCP profiling: scapy (nac capture, the DHCP tests) compiles its BPF filters with libpcap.
ldconfig -p 2>/dev/null | grep -q 'libpcap\.so' || need_apt+=(libpcap0.8)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# 2. The project in its own venv (generic top-level names: never a shared site-packages).
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

# 3. Static checks.
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports

# 4. The suite on SQLite and, when a test database is given, the storage, console and interop
#    tests again on PostgreSQL. The two passes run side by side (each is mostly waiting on
#    real peers and servers; together they take about as long as the longer one), the
#    PostgreSQL pass's output is printed after the SQLite pass's. NAC_TEST_SERIAL=1: one by one.
db_url=${NAC_TEST_DATABASE_URL:-}
pg_rc=0
if [ -n "$db_url" ]; then
  pg_log=$(mktemp)
  if [ -n "${NAC_TEST_SERIAL:-}" ]; then
    NAC_TEST_DATABASE_URL="$db_url" .venv/bin/pytest -q tests/nac tests/web tests/interop "$@" \
      >"$pg_log" 2>&1 || pg_rc=$?
  else
    NAC_TEST_DATABASE_URL="$db_url" .venv/bin/pytest -q tests/nac tests/web tests/interop "$@" \
      >"$pg_log" 2>&1 &
    pg_pid=$!
  fi
fi
sqlite_rc=0
NAC_TEST_DATABASE_URL= .venv/bin/pytest -q "$@" || sqlite_rc=$?
if [ -n "$db_url" ]; then
  if [ -z "${NAC_TEST_SERIAL:-}" ]; then
    wait "$pg_pid" || pg_rc=$?
  fi
  echo "== on PostgreSQL: $db_url (tests/nac tests/web tests/interop)"
  cat "$pg_log"
  rm -f "$pg_log"
fi
if [ "$sqlite_rc" -ne 0 ] || [ "$pg_rc" -ne 0 ]; then
  echo "== FAILED: SQLite pass exit $sqlite_rc, PostgreSQL pass exit $pg_rc" >&2
  exit 1
fi
