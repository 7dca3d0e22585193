#!/usr/bin/env bash
# Runs every test with the real services they need, on a fresh machine too:
# installs what is missing (Debian packages, cargo-nextest), starts WordPress
# (../shared/wordpress/wp.sh) and PostgreSQL, creates a fresh PostgreSQL
# database for this run, then runs the suite.
#
#   bash scripts/test.sh [extra nextest/cargo-test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared="$root/../shared"

log() { printf '[test.sh] %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Tools the tests call: gcc and the static glibc archives for the build,
# tmux for the TUI tests, sqlite3 for inspecting databases, promtool (Debian
# package prometheus) for the /metrics test, chromium for the status page test,
# systemd for systemd-analyze (the unit's verify and security tests), openssl
# and python3 for the self-update tests (signing, the fake release server).
apt_install gcc libc6-dev tmux sqlite3 prometheus chromium systemd openssl python3

# PostgreSQL on 127.0.0.1:5432 with trust auth (already running on these
# machines; start it if not) and a fresh database per run.
if command -v pg_ctlcluster >/dev/null 2>&1; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    log "starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  db="bp_test_$(date +%s)_$$"
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db" >/dev/null
  export BLOG_POSTER_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/$db"
  log "PostgreSQL test database: $db"
else
  log "PostgreSQL is not reachable on 127.0.0.1:5432: the PostgreSQL tests will fail"
fi

# A local S3-compatible server for the off-site backup tests: moto's S3
# behind scripts/fake_s3.py, which checks every presigned URL's signature.
if ! python3 -c 'import moto.server, flask' >/dev/null 2>&1; then
  if python3 -m pip --version >/dev/null 2>&1; then
    log "installing moto[server] (local S3 for the backup tests)"
    python3 -m pip install -q 'moto[server]' >/dev/null 2>&1 || true
  fi
fi
if ! python3 -c 'import moto.server, flask' >/dev/null 2>&1; then
  log "SKIPPING the S3 backup tests: python3 with pip is unavailable, so moto cannot be installed"
  export BLOG_POSTER_SKIP_S3_TESTS=1
fi

# Two real WordPress sites: pretty permalinks and plain ones.
if [ -x "$shared/wordpress/wp.sh" ]; then
  log "starting WordPress (first start installs packages)"
  eval "$("$shared/wordpress/wp.sh" start --name bp-pretty --port 18181)"
  eval "$("$shared/wordpress/wp.sh" start --name bp-plain --port 18191 --plain-permalinks --prefix WP2_)"
  export WP_URL WP_API_ROOT WP_USER WP_APP_PASSWORD WP_CONTRIBUTOR_USER WP_CONTRIBUTOR_APP_PASSWORD
  export WP2_URL WP2_API_ROOT WP2_USER WP2_APP_PASSWORD WP2_CONTRIBUTOR_USER WP2_CONTRIBUTOR_APP_PASSWORD
else
  log "../shared/wordpress/wp.sh not found: the WordPress tests will fail"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install cargo-nextest --locked >/dev/null 2>&1 || true
fi
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
else
  cargo test --no-fail-fast "$@"
fi
