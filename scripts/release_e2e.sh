#!/usr/bin/env bash
# End to end: two real releases built by scripts/release.sh (0.2.0-test and
# 0.3.0-test), served by the fake release server, and blog-poster updating
# itself between them while `serve` runs under a restart-on-exit supervisor
# (systemd cannot run here; see scripts/e2e_lib.sh). Then a release that
# never becomes ready and one that migrates the database and then fails:
# both must end with the previous version serving, the database it accepts,
# and no committed row lost. A tarball (binary) install: the .deb road is
# scripts/deb_self_update_e2e.sh.
#
#   BLOG_POSTER_SIGNING_KEY_FILE=... CARGO_TARGET_DIR=... scripts/release_e2e.sh
set -euo pipefail
E2E_NAME=release_e2e
. "$(dirname "$0")/e2e_lib.sh"
e2e_key

e2e_build_release "$E2E_V1"
e2e_build_release "$E2E_V2"

host=$E2E_DIR/host
sup=$host/sup
rm -rf "$host" && mkdir -p "$host/bin" "$sup"
tar -xzf "$E2E_DIR/releases/v$E2E_V1/blog-poster-$E2E_V1-$E2E_TARGET.tar.gz" -C "$host"
install -m 0755 "$host/blog-poster-$E2E_V1-$E2E_TARGET/blog-poster" "$host/bin/blog-poster"
e2e_install_systemd_standin "$host/standin"
export E2E_SUP_DIR=$sup PATH="$host/standin:$PATH"

# Only the two real releases are published at first.
mkdir -p "$E2E_DIR/releases.hold"
for v in "$E2E_DIR"/releases/v*; do
  case "$(basename "$v")" in "v$E2E_V1" | "v$E2E_V2") ;; *) mv "$v" "$E2E_DIR/releases.hold/" ;; esac
done
e2e_start_server
port=$(e2e_free_port)
addr=127.0.0.1:$port
trusted=""
[ "$E2E_TEST_KEY" = 1 ] && trusted="trusted_keys = [\"$E2E_PUBKEY\"]"
cat >"$host/config.toml" <<TOML
data_dir = "$host/data"
[http]
listen = "$addr"
[update]
api_url = "$E2E_URL"
repository = "blog-poster/blog-poster"
ready_timeout = "30s"
stable_for = "3s"
service = "blog-poster-e2e"
$trusted
[sites.example]
publisher = "outbox"
[[sites.example.sources]]
url = "https://blog.rust-lang.org/feed.xml"
TOML
bp() { "$host/bin/blog-poster" --config "$host/config.toml" "$@"; }
db=$host/data/blog-poster.db
# The rows this test commits (API tokens): the exact count must survive every
# update and rollback. (Events grow with each start, so they are not compared.)
rows() { sqlite3 "$db" "SELECT count(*) || ' api tokens: ' || group_concat(name, ',') FROM api_tokens"; }

cleanup() {
  touch "$sup/quit"
  systemctl stop blog-poster-e2e >/dev/null 2>&1 || true
  [ -n "${sup_pid:-}" ] && wait "$sup_pid" 2>/dev/null || true
  [ -n "${E2E_SERVER_PID:-}" ] && kill "$E2E_SERVER_PID" 2>/dev/null || true
}
trap cleanup EXIT
EXEC=$host/bin/blog-poster CONFIG=$host/config.toml "$host/standin/e2e-supervisor" &
sup_pid=$!

e2e_log "1. $E2E_V1 installed and serving"
e2e_show bp version
e2e_show systemctl start blog-poster-e2e
e2e_wait_ready "$addr" 60 "$E2E_V1"
for n in 1 2 3; do bp token create --role viewer "before-update-$n" >/dev/null; done
before=$(rows)
echo "rows committed before the updates: $before"

e2e_log "2. self-update --check"
e2e_show bp self-update --check

e2e_log "3. self-update to $E2E_V2"
e2e_show bp self-update
e2e_wait_ready "$addr" 5 "$E2E_V2"
e2e_show bp version
ls -l "$host/bin"
[ "$(rows)" = "$before" ] || e2e_die "rows changed: $(rows), before: $before"

e2e_log "4. self-update --rollback (back to $E2E_V1)"
e2e_show bp self-update --rollback
e2e_wait_ready "$addr" 5 "$E2E_V1"
e2e_show bp version

e2e_log "5. self-update to $E2E_V2 again"
e2e_show bp self-update
e2e_wait_ready "$addr" 5 "$E2E_V2"
bp token create --role viewer after-update >/dev/null
before=$(rows)
echo "rows now: $before"

e2e_log "6. a release that never becomes ready (0.3.1-test)"
cat >"$E2E_DIR/never-ready.sh" <<'SH'
#!/bin/sh
# Broken on purpose: says it is 0.3.1-test, and serve never gets ready.
case "$*" in
*"version --json"*) echo '{"version":"0.3.1-test","schema":6,"target":"x86_64-unknown-linux-gnu","sqlite":"3"}'; exit 0 ;;
*version*) echo "blog-poster 0.3.1-test (broken on purpose)"; exit 0 ;;
*serve*) echo "0.3.1-test: hanging without ever being ready" >&2; exec sleep 3600 ;;
esac
exit 1
SH
e2e_script_release 0.3.1-test "$E2E_DIR/never-ready.sh"
set +e
e2e_show bp self-update
code=$?
set -e
[ $code = 1 ] || e2e_die "self-update to a never-ready release exited $code, want 1"
e2e_wait_ready "$addr" 5 "$E2E_V2"
[ "$(rows)" = "$before" ] || e2e_die "rows changed: $(rows), before: $before"
echo "after the rollback: $E2E_V2 serving, rows $(rows)"

e2e_log "7. a release that migrates the database and then fails (0.3.2-test)"
cat >"$E2E_DIR/migrate-then-fail.sh" <<SH
#!/bin/sh
# Broken on purpose: applies a migration (schema 99) to the database and
# exits 1 at every start.
case "\$*" in
*"version --json"*) echo '{"version":"0.3.2-test","schema":99,"target":"x86_64-unknown-linux-gnu","sqlite":"3"}'; exit 0 ;;
*version*) echo "blog-poster 0.3.2-test (broken on purpose)"; exit 0 ;;
*serve*)
  sqlite3 "$db" "CREATE TABLE IF NOT EXISTS e2e_probe (x INTEGER); INSERT OR IGNORE INTO schema_migrations (version, name, checksum, applied_at) VALUES (99, 'e2e_probe', 'e2e', '2026-12-07T00:00:00Z');"
  echo "0.3.2-test: migrated to 99, now failing" >&2; exit 1 ;;
esac
exit 1
SH
e2e_script_release 0.3.2-test "$E2E_DIR/migrate-then-fail.sh"
set +e
e2e_show bp self-update --version 0.3.2-test
code=$?
set -e
[ $code = 1 ] || e2e_die "self-update to a migrate-then-fail release exited $code, want 1"
e2e_wait_ready "$addr" 5 "$E2E_V2"
e2e_show bp db status
[ "$(sqlite3 "$db" 'SELECT max(version) FROM schema_migrations')" != 99 ] || e2e_die "schema 99 left in place"
[ "$(rows)" = "$before" ] || e2e_die "rows changed: $(rows), before: $before"
echo "after the rollback: $E2E_V2 serving, schema $(sqlite3 "$db" 'SELECT max(version) FROM schema_migrations'), rows $(rows)"
ls -l "$host/data" | grep failed-update
e2e_show cat "$host/data/updates/last-update.json"
e2e_show bp backup list
echo "supervisor log:"; cat "$sup/log"
e2e_log "PASSED"
