#!/usr/bin/env bash
# End to end, the .deb road: in a clean Debian root (debootstrap), install.sh
# installs 0.2.0-test's .deb; the installed unit passes systemd-analyze verify;
# `serve` runs as the blog-poster user under the supervisor standing in for
# systemd (no systemd runs in a chroot); `blog-poster self-update` installs
# 0.3.0-test's .deb with dpkg, `--rollback` puts 0.2.0-test's back, and two
# broken .debs (never ready; migrates then fails) are rolled back with no
# committed row lost. Finally the package is purged.
#
#   BLOG_POSTER_SIGNING_KEY_FILE=... CARGO_TARGET_DIR=... scripts/deb_self_update_e2e.sh
set -euo pipefail
E2E_NAME=deb_self_update_e2e
. "$(dirname "$0")/e2e_lib.sh"
e2e_key
e2e_build_release "$E2E_V1"
e2e_build_release "$E2E_V2"

mkdir -p "$E2E_DIR/releases.hold"
for v in "$E2E_DIR"/releases/v*; do
  case "$(basename "$v")" in "v$E2E_V1" | "v$E2E_V2") ;; *) mv "$v" "$E2E_DIR/releases.hold/" ;; esac
done
mv "$E2E_DIR/releases/v$E2E_V2" "$E2E_DIR/releases.hold/"
e2e_start_server

r=$E2E_DIR/root-deb
sup=/run/e2e-sup
cleanup() {
  touch "$r$sup/quit" 2>/dev/null || true
  chroot "$r" env E2E_SUP_DIR=$sup /usr/local/bin/systemctl stop blog-poster >/dev/null 2>&1 || true
  [ -n "${sup_pid:-}" ] && wait "$sup_pid" 2>/dev/null || true
  e2e_umount_root "$r"
  kill "$E2E_SERVER_PID" 2>/dev/null || true
}
trap cleanup EXIT
e2e_fresh_root "$r" standin
cp "$E2E_REPO/packaging/install.sh" "$r/root/install.sh"
keyenv=""
[ "$E2E_TEST_KEY" = 1 ] && keyenv="BLOG_POSTER_TRUSTED_KEY_FILE=/root/signing-key.pub"
in_root() {
  chroot "$r" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root E2E_SUP_DIR=$sup "$@"
}

e2e_log "1. install $E2E_V1 with install.sh (the .deb)"
e2e_show in_root BLOG_POSTER_API_URL="$E2E_URL" \
  BLOG_POSTER_DOWNLOAD_URL="$E2E_URL/blog-poster/blog-poster/releases/download" $keyenv bash /root/install.sh
e2e_show in_root dpkg -s blog-poster
e2e_show in_root getent passwd blog-poster
e2e_show in_root systemd-analyze verify /usr/lib/systemd/system/blog-poster.service \
  /usr/lib/systemd/system/blog-poster-update.service /usr/lib/systemd/system/blog-poster-update.path
echo "(systemd-analyze verify: exit $?, no output above means clean)"

port=$(e2e_free_port)
addr=127.0.0.1:$port
trusted=""
[ "$E2E_TEST_KEY" = 1 ] && trusted='trusted_keys = ["/root/signing-key.pub"]'
# Point the conffile at the fake server and a free port (an operator with a
# mirror sets the same keys).
sed -i "s|^listen = .*|listen = \"$addr\"|; s|^mode = \"notify\"|mode = \"off\"\napi_url = \"$E2E_URL\"\nready_timeout = \"30s\"\nstable_for = \"3s\"\n$trusted|" \
  "$r/etc/blog-poster/config.toml"
e2e_show in_root blog-poster config check
mkdir -p "$r$sup"
chroot "$r" env -i PATH=/usr/local/bin:/usr/bin:/bin E2E_SUP_DIR=$sup EXEC=/usr/bin/blog-poster \
  CONFIG=/etc/blog-poster/config.toml USER_SPEC="--reuid blog-poster --regid blog-poster --clear-groups" \
  /usr/local/bin/e2e-supervisor &
sup_pid=$!
db=/var/lib/blog-poster/blog-poster.db
rows() { in_root sqlite3 "$db" "SELECT count(*) || ' api tokens: ' || group_concat(name, ',') FROM api_tokens"; }
bp() { in_root blog-poster "$@"; }

e2e_log "2. $E2E_V1 serving as blog-poster"
e2e_show bp version
in_root systemctl start blog-poster
e2e_wait_ready "$addr" 60 "$E2E_V1"
for n in 1 2; do bp token create --role viewer "deb-before-$n" >/dev/null; done
chroot "$r" chown blog-poster:blog-poster $db
before=$(rows)
echo "rows: $before"

e2e_log "3. self-update to $E2E_V2 (dpkg -i of the new .deb)"
mv "$E2E_DIR/releases.hold/v$E2E_V2" "$E2E_DIR/releases/"
e2e_show bp self-update --check
e2e_show bp self-update
e2e_wait_ready "$addr" 5 "$E2E_V2"
e2e_show in_root dpkg-query -W blog-poster
[ "$(rows)" = "$before" ] || e2e_die "rows changed: $(rows)"

e2e_log "4. self-update --rollback (dpkg -i of $E2E_V1's kept .deb)"
e2e_show bp self-update --rollback
e2e_wait_ready "$addr" 5 "$E2E_V1"
e2e_show in_root dpkg-query -W blog-poster

e2e_log "5. self-update to $E2E_V2 again"
e2e_show bp self-update
e2e_wait_ready "$addr" 5 "$E2E_V2"
bp token create --role viewer deb-after >/dev/null
before=$(rows)

e2e_log "6. a .deb that never becomes ready"
cat >"$E2E_DIR/deb-never-ready.sh" <<'SH'
#!/bin/sh
case "$*" in
*"version --json"*) echo '{"version":"0.3.1-test","schema":6,"target":"x86_64-unknown-linux-gnu","sqlite":"3"}'; exit 0 ;;
*version*) echo "blog-poster 0.3.1-test (broken on purpose)"; exit 0 ;;
*serve*) exec sleep 3600 ;;
esac
exit 1
SH
e2e_script_release 0.3.1-test "$E2E_DIR/deb-never-ready.sh" "$E2E_DIR/releases/v$E2E_V2/blog-poster_${E2E_V2}_amd64.deb"
set +e
e2e_show bp self-update
code=$?
set -e
[ $code = 1 ] || e2e_die "exit $code, want 1"
e2e_wait_ready "$addr" 5 "$E2E_V2"
e2e_show in_root dpkg-query -W blog-poster
[ "$(rows)" = "$before" ] || e2e_die "rows changed: $(rows)"

e2e_log "7. a .deb that migrates the database and then fails"
cat >"$E2E_DIR/deb-migrate-then-fail.sh" <<SH
#!/bin/sh
case "\$*" in
*"version --json"*) echo '{"version":"0.3.2-test","schema":99,"target":"x86_64-unknown-linux-gnu","sqlite":"3"}'; exit 0 ;;
*version*) echo "blog-poster 0.3.2-test (broken on purpose)"; exit 0 ;;
*serve*)
  sqlite3 $db "CREATE TABLE IF NOT EXISTS e2e_probe (x INTEGER); INSERT OR IGNORE INTO schema_migrations (version, name, checksum, applied_at) VALUES (99, 'e2e_probe', 'e2e', '2026-12-07T00:00:00Z');"
  exit 1 ;;
esac
exit 1
SH
e2e_script_release 0.3.2-test "$E2E_DIR/deb-migrate-then-fail.sh" "$E2E_DIR/releases/v$E2E_V2/blog-poster_${E2E_V2}_amd64.deb"
set +e
e2e_show bp self-update --version 0.3.2-test
code=$?
set -e
[ $code = 1 ] || e2e_die "exit $code, want 1"
e2e_wait_ready "$addr" 5 "$E2E_V2"
e2e_show bp db status
[ "$(in_root sqlite3 $db 'SELECT max(version) FROM schema_migrations')" != 99 ] || e2e_die "schema 99 left"
[ "$(rows)" = "$before" ] || e2e_die "rows changed: $(rows)"
e2e_show in_root cat /var/lib/blog-poster/updates/last-update.json
e2e_show in_root ls -l /var/lib/blog-poster /var/lib/blog-poster/updates/releases

e2e_log "8. purge"
in_root systemctl stop blog-poster
touch "$r$sup/quit"
wait "$sup_pid" 2>/dev/null || true
sup_pid=""
e2e_show in_root dpkg --purge blog-poster
for p in /usr/bin/blog-poster /var/lib/blog-poster /etc/blog-poster; do
  [ ! -e "$r$p" ] || e2e_die "$p is still there after purge"
done
echo "purged: /usr/bin/blog-poster, /var/lib/blog-poster, /etc/blog-poster are gone"
e2e_log "PASSED"
