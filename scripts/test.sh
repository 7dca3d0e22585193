#!/usr/bin/env bash
# Runs every test with the real services they need, on a fresh machine too:
# installs what is missing (Debian packages, moto, cargo-nextest), starts
# PostgreSQL and WordPress (../shared/wordpress/wp.sh), creates a fresh
# PostgreSQL database for this run, then runs the suite and prints a summary.
#
#   bash scripts/test.sh [extra nextest/cargo-test arguments]
#
# A service it cannot provide is an error: the script stops before running
# the tests (exit 1) rather than letting them pass without it. The services:
# postgres, wordpress, tmux, systemd-analyze, s3 (moto behind
# scripts/fake_s3.py). On a developer machine one may opt out explicitly:
#
#   BLOG_POSTER_TEST_SKIP=wordpress,s3 bash scripts/test.sh
#
# The tests whose names contain the service's token (systemd-analyze:
# systemd_analyze) are then left out, and the summary says so. Under CI
# (CI=true) an opt-out is refused. See docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared="$root/../shared"

log() { printf '[test.sh] %s\n' "$*" >&2; }
die() {
  printf '[test.sh] ERROR: %s\n' "$*" >&2
  exit 1
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

services=(postgres wordpress tmux systemd-analyze s3)
name_token() { if [ "$1" = systemd-analyze ]; then echo systemd_analyze; else echo "$1"; fi; }

# The explicit opt-out: known names only, never under CI.
skip=()
IFS=',' read -r -a requested <<<"${BLOG_POSTER_TEST_SKIP:-}"
for s in "${requested[@]}"; do
  s=$(echo "$s" | tr -d '[:space:]')
  [ -z "$s" ] && continue
  known=0
  for k in "${services[@]}"; do [ "$k" = "$s" ] && known=1; done
  [ $known = 1 ] || die "BLOG_POSTER_TEST_SKIP: unknown service \"$s\" (the services are: ${services[*]})"
  skip+=("$s")
done
under_ci=0
case "${CI:-}" in true | 1) under_ci=1 ;; esac
if [ $under_ci = 1 ] && [ ${#skip[@]} -gt 0 ]; then
  die "BLOG_POSTER_TEST_SKIP=${BLOG_POSTER_TEST_SKIP} is not allowed under CI (CI=${CI}): CI provides every service"
fi
skipped() {
  local s
  for s in "${skip[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}
export BLOG_POSTER_TEST_SKIP
BLOG_POSTER_TEST_SKIP=$(
  IFS=,
  echo "${skip[*]}"
)

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq >/dev/null || log "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null ||
      log "apt-get install ${missing[*]} failed"
  fi
}

# Tools the tests call: gcc and the static glibc archives for the build,
# sqlite3 for inspecting databases, promtool (Debian package prometheus) for
# the /metrics test, chromium for the status page test, openssl and python3
# for the self-update tests (signing, the fake release server); tmux and
# systemd (systemd-analyze) unless opted out of.
packages=(gcc libc6-dev sqlite3 prometheus chromium openssl python3)
skipped tmux || packages+=(tmux)
skipped systemd-analyze || packages+=(systemd)
apt_install "${packages[@]}"
for tool in gcc sqlite3 promtool chromium openssl python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing and could not be installed (apt-get install ${packages[*]})"
done

declare -A provided=()
# The run's PostgreSQL database and temporary files go when the script ends.
created_db=""
out=""
tool_config=""
cleanup() {
  rm -f "$out" "$tool_config"
  if [ -n "$created_db" ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $created_db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

# PostgreSQL on 127.0.0.1:5432 with trust auth (already running on these
# machines; start it if not) and a fresh database per run. A URL given in
# BLOG_POSTER_TEST_POSTGRES_URL is used as it is, and must answer.
if ! skipped postgres; then
  if [ -n "${BLOG_POSTER_TEST_POSTGRES_URL:-}" ]; then
    psql "$BLOG_POSTER_TEST_POSTGRES_URL" -qtAc 'SELECT 1' >/dev/null 2>&1 ||
      die "PostgreSQL at BLOG_POSTER_TEST_POSTGRES_URL=$BLOG_POSTER_TEST_POSTGRES_URL does not answer (or opt out: BLOG_POSTER_TEST_SKIP=postgres)"
    provided[postgres]="$BLOG_POSTER_TEST_POSTGRES_URL (given)"
  else
    if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && command -v pg_ctlcluster >/dev/null 2>&1; then
      log "starting PostgreSQL"
      as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    fi
    pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null ||
      die "PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started (or opt out: BLOG_POSTER_TEST_SKIP=postgres)"
    db="bp_test_$(date +%s)_$$"
    psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db" >/dev/null ||
      die "cannot create the test database $db as user postgres on 127.0.0.1:5432"
    created_db=$db
    export BLOG_POSTER_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/$db"
    provided[postgres]="$BLOG_POSTER_TEST_POSTGRES_URL (fresh database)"
  fi
fi

# A local S3-compatible server for the off-site backup tests: moto's S3
# behind scripts/fake_s3.py, which checks every presigned URL's signature.
if ! skipped s3; then
  if ! python3 -c 'import moto.server, flask' >/dev/null 2>&1; then
    if python3 -m pip --version >/dev/null 2>&1; then
      log "installing moto[server] (local S3 for the backup tests)"
      python3 -m pip install -q 'moto[server]' >/dev/null 2>&1 || true
    fi
  fi
  python3 -c 'import moto.server, flask' >/dev/null 2>&1 ||
    die "python3 cannot import moto's server and pip could not install it: pip install 'moto[server]' (or opt out: BLOG_POSTER_TEST_SKIP=s3)"
  provided[s3]="moto via $(command -v python3)"
fi

for tool in tmux systemd-analyze; do
  skipped $tool && continue
  command -v $tool >/dev/null 2>&1 ||
    die "$tool is missing and could not be installed (or opt out: BLOG_POSTER_TEST_SKIP=$tool)"
  provided[$tool]=$(command -v $tool)
done

# Two real WordPress sites: pretty permalinks and plain ones.
if ! skipped wordpress; then
  [ -x "$shared/wordpress/wp.sh" ] ||
    die "../shared/wordpress/wp.sh is missing: the WordPress tests need it (or opt out: BLOG_POSTER_TEST_SKIP=wordpress)"
  log "starting WordPress (first start installs packages)"
  pretty=$("$shared/wordpress/wp.sh" start --name bp-pretty --port 18181) ||
    die "WordPress (bp-pretty) did not start"
  plain=$("$shared/wordpress/wp.sh" start --name bp-plain --port 18191 --plain-permalinks --prefix WP2_) ||
    die "WordPress (bp-plain) did not start"
  eval "$pretty"
  eval "$plain"
  export WP_URL WP_API_ROOT WP_USER WP_APP_PASSWORD WP_CONTRIBUTOR_USER WP_CONTRIBUTOR_APP_PASSWORD
  export WP2_URL WP2_API_ROOT WP2_USER WP2_APP_PASSWORD WP2_CONTRIBUTOR_USER WP2_CONTRIBUTOR_APP_PASSWORD
  provided[wordpress]="$WP_URL and $WP2_URL"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install cargo-nextest --locked >/dev/null 2>&1 || true
fi

# Opted-out services: leave out the integration tests named after them.
# With nextest this is the default profile's default filter, which nextest
# intersects with any -E the caller passes (several -E would be a union).
# It goes in a config file of its own (--config-file; a tool config file
# cannot set it), so the repository must not have one.
nextest_args=()
skip_names=()
for s in "${skip[@]}"; do skip_names+=("$(name_token "$s")"); done
pattern=""
if [ ${#skip_names[@]} -gt 0 ]; then
  pattern=$(
    IFS='|'
    echo "${skip_names[*]}"
  )
fi

status=0
out=$(mktemp)
tool_config=$(mktemp --suffix=.toml)
left_out=0
if cargo nextest --version >/dev/null 2>&1; then
  if [ -n "$pattern" ]; then
    printf '[profile.default]\ndefault-filter = "not (binary_id(blog-poster::it) & test(/%s/))"\n' \
      "$pattern" >"$tool_config"
    [ ! -e .config/nextest.toml ] ||
      die "BLOG_POSTER_TEST_SKIP needs its own nextest config, but .config/nextest.toml exists: teach scripts/test.sh to merge it"
    nextest_args=(--config-file "$tool_config")
    left_out=$(cargo nextest list --message-format oneline --ignore-default-filter \
      -E "binary_id(blog-poster::it) & test(/$pattern/)" 2>/dev/null | grep -c . || true)
  fi
  cargo nextest run "${nextest_args[@]}" --no-fail-fast "$@" 2>&1 | tee "$out" || status=$?
  result=$(grep -E '^ +Summary ' "$out" | tail -n1 | sed 's/^ *//')
else
  # cargo test's --skip applies to every binary: a unit test whose name
  # holds the token is left out too.
  left_out="?"
  skip_args=()
  for n in "${skip_names[@]}"; do skip_args+=(--skip "$n"); done
  cargo test --no-fail-fast "$@" -- "${skip_args[@]}" 2>&1 | tee "$out" || status=$?
  result=$(grep -E '^test result:' "$out" | tr '\n' ' ')
fi

echo
echo "==================== scripts/test.sh summary ===================="
for s in "${services[@]}"; do
  if skipped "$s"; then
    printf '  %-16s OPTED OUT by BLOG_POSTER_TEST_SKIP: tests named *%s* not run\n' "$s" "$(name_token "$s")"
  else
    printf '  %-16s provided: %s\n' "$s" "${provided[$s]}"
  fi
done
if [ ${#skip[@]} -gt 0 ]; then
  echo "  OPT-OUT: BLOG_POSTER_TEST_SKIP=$BLOG_POSTER_TEST_SKIP left out $left_out test(s); this run does not cover them"
fi
echo "  result: ${result:-no summary line (see above)}"
echo "  exit status: $status"
echo "================================================================="
exit "$status"
