# Shared by scripts/{release,install,deb_self_update}_e2e.sh (sourced):
# building two real releases, signing hand-made ones, the fake release
# server, and a stand-in for systemd where systemd cannot run (containers,
# chroots): a supervisor loop that restarts `serve` when it exits, driven by
# a `systemctl` script put first on PATH.
# shellcheck shell=bash

e2e_log() { printf '\n[%s] %s\n' "${E2E_NAME:-e2e}" "$*" >&2; }
e2e_die() {
  printf '[%s] FAILED: %s\n' "${E2E_NAME:-e2e}" "$*" >&2
  exit 1
}
# Runs a command, showing it and its output (the record of the run).
e2e_show() {
  printf '\n$ %s\n' "$*"
  "$@"
}

E2E_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
E2E_DIR=${E2E_DIR:-/tmp/bp-release-e2e}
E2E_TARGET=x86_64-unknown-linux-gnu
E2E_V1=${E2E_V1:-0.2.0-test}
E2E_V2=${E2E_V2:-0.3.0-test}
mkdir -p "$E2E_DIR"

# The signing key: BLOG_POSTER_SIGNING_KEY_FILE (the release key, or any
# ed25519 key: then it is trusted through trusted_keys and install.sh's
# BLOG_POSTER_TRUSTED_KEY_FILE), else a throw-away test key.
e2e_key() {
  if [ -z "${BLOG_POSTER_SIGNING_KEY_FILE:-}" ]; then
    BLOG_POSTER_SIGNING_KEY_FILE=$E2E_DIR/test-signing-key.pem
    [ -e "$BLOG_POSTER_SIGNING_KEY_FILE" ] || openssl genpkey -algorithm ed25519 -out "$BLOG_POSTER_SIGNING_KEY_FILE"
  fi
  export BLOG_POSTER_SIGNING_KEY_FILE
  E2E_PUBKEY=$E2E_DIR/signing-key.pub
  openssl pkey -in "$BLOG_POSTER_SIGNING_KEY_FILE" -pubout -out "$E2E_PUBKEY"
  if cmp -s "$E2E_PUBKEY" "$E2E_REPO/packaging/release-key.pub"; then
    E2E_TEST_KEY=0
  else
    E2E_TEST_KEY=1
    export BLOG_POSTER_ALLOW_TEST_KEY=1
  fi
}

# Builds release VERSION with scripts/release.sh from a copy of the tree
# whose Cargo.toml says VERSION, into $E2E_DIR/releases/vVERSION/. Reused
# unless E2E_REBUILD=1. Release builds share $CARGO_TARGET_DIR.
e2e_build_release() {
  local v=$1 src=$E2E_DIR/src-$1 dest=$E2E_DIR/releases/v$1
  if [ -e "$dest/SHA256SUMS.sig" ] && [ "${E2E_REBUILD:-0}" != 1 ]; then
    e2e_log "release $v: reusing $dest"
    return
  fi
  rm -rf "$src" && mkdir -p "$src"
  (cd "$E2E_REPO" && tar --exclude=./target --exclude=./dist --exclude=./.git -cf - .) | tar -C "$src" -xf -
  sed -i "0,/^version = \".*\"/s//version = \"$v\"/" "$src/Cargo.toml"
  awk -v v="$v" '/^name = "blog-poster"$/ { print; getline; print "version = \"" v "\""; next } { print }' \
    "$src/Cargo.lock" >"$src/Cargo.lock.new" && mv "$src/Cargo.lock.new" "$src/Cargo.lock"
  e2e_log "building release $v (scripts/release.sh)"
  (cd "$src" && e2e_show scripts/release.sh "$v") || e2e_die "release.sh $v failed"
  rm -rf "$dest" && mkdir -p "$dest"
  cp "$src/dist/$v"/* "$dest/"
}

e2e_sign() { # DIR FILE...: SHA256SUMS over FILEs and a .sig for each
  local dir=$1
  shift
  (cd "$dir" && sha256sum "$@" >SHA256SUMS)
  for f in "$@" SHA256SUMS; do
    openssl pkeyutl -sign -rawin -inkey "$BLOG_POSTER_SIGNING_KEY_FILE" -in "$dir/$f" -out "$dir/$f.sig"
  done
}

# A hand-made release VERSION whose binary is the script in $2 (it must
# answer `version --json` itself); signed like a real one. With a .deb
# made from the real release $3's .deb when given.
e2e_script_release() {
  local v=$1 script=$2 from_deb=${3:-}
  local dir=$E2E_DIR/releases/v$v name=blog-poster-$v-$E2E_TARGET
  rm -rf "$dir" "$E2E_DIR/stage-$v" && mkdir -p "$dir" "$E2E_DIR/stage-$v/$name"
  install -m 0755 "$script" "$E2E_DIR/stage-$v/$name/blog-poster"
  tar -C "$E2E_DIR/stage-$v" -czf "$dir/$name.tar.gz" "$name"
  local files=("$name.tar.gz")
  if [ -n "$from_deb" ]; then
    local x=$E2E_DIR/stage-$v/deb
    dpkg-deb -R "$from_deb" "$x"
    install -m 0755 "$script" "$x/usr/bin/blog-poster"
    sed -i "s/^Version: .*/Version: $(echo "$v" | tr - '~')-1/" "$x/DEBIAN/control"
    dpkg-deb --root-owner-group -b "$x" "$dir/blog-poster_${v}_amd64.deb" >/dev/null
    files+=("blog-poster_${v}_amd64.deb")
  fi
  printf 'A deliberately broken release for the e2e test.\n' >"$dir/notes.md"
  e2e_sign "$dir" "${files[@]}"
}

# Starts scripts/fake_release_server.py over $E2E_DIR/releases; sets E2E_URL.
e2e_start_server() {
  mkdir -p "$E2E_DIR/releases"
  python3 "$E2E_REPO/scripts/fake_release_server.py" --dir "$E2E_DIR/releases" \
    >"$E2E_DIR/server.out" 2>"$E2E_DIR/server.log" &
  E2E_SERVER_PID=$!
  local i
  for i in $(seq 1 100); do
    E2E_URL=$(sed -n 's/^listening on //p' "$E2E_DIR/server.out")
    [ -n "$E2E_URL" ] && break
    sleep 0.1
  done
  [ -n "$E2E_URL" ] || e2e_die "the fake release server did not start"
  e2e_log "fake release server at $E2E_URL (releases in $E2E_DIR/releases)"
}

e2e_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The systemd stand-in, installed into $1 (a bin folder): `systemctl` and
# `e2e-supervisor`. The supervisor runs `$EXEC --config $CONFIG serve` (as
# $USER_SPEC via setpriv when set) again whenever it exits, one second
# later, like Restart=always RestartSec=1s, counting restarts for `systemctl
# show -p NRestarts`; `systemctl stop` makes it stop (SIGTERM, wait) and
# hold, `start` lets it run again. State lives in $E2E_SUP_DIR.
e2e_install_systemd_standin() {
  local bindir=$1
  mkdir -p "$bindir"
  cat >"$bindir/systemctl" <<'SH'
#!/bin/sh
# systemctl stand-in for the e2e tests (see scripts/e2e_lib.sh).
d=${E2E_SUP_DIR:?}
verb=$1
[ "$verb" = "--system" ] && { shift; verb=$1; }
case "$verb" in
is-active)
  [ -e "$d/active" ] && exit 0 || exit 3 ;;
start)
  rm -f "$d/hold"; touch "$d/active"; echo start >>"$d/log"
  i=0; while [ ! -e "$d/pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; exit 0 ;;
stop)
  touch "$d/hold"; rm -f "$d/active"; echo stop >>"$d/log"
  if [ -e "$d/pid" ]; then kill -TERM "$(cat "$d/pid")" 2>/dev/null; fi
  i=0; while [ -e "$d/pid" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; exit 0 ;;
restart|try-restart)
  if [ "$verb" = try-restart ] && [ ! -e "$d/active" ]; then exit 0; fi
  "$0" stop "$2"; "$0" start "$2" ;;
show)
  cat "$d/restarts" 2>/dev/null || echo 0 ;;
daemon-reload|enable|disable|reset-failed)
  exit 0 ;;
*) echo "systemctl stand-in: $*: not supported" >&2; exit 1 ;;
esac
SH
  cat >"$bindir/e2e-supervisor" <<'SH'
#!/bin/sh
# Restart-on-exit supervisor standing in for systemd (scripts/e2e_lib.sh).
d=${E2E_SUP_DIR:?}
echo 0 >"$d/restarts"
runs=0
while [ ! -e "$d/quit" ]; do
  if [ -e "$d/hold" ] || [ ! -e "$d/active" ]; then sleep 0.2; continue; fi
  if [ -n "${USER_SPEC:-}" ]; then
    setpriv $USER_SPEC "$EXEC" --config "$CONFIG" serve >>"$d/serve.log" 2>&1 &
  else
    "$EXEC" --config "$CONFIG" serve >>"$d/serve.log" 2>&1 &
  fi
  echo $! >"$d/pid"
  wait $!
  code=$?
  rm -f "$d/pid"
  echo "serve exited $code" >>"$d/log"
  if [ ! -e "$d/hold" ]; then
    runs=$((runs+1)); echo $runs >"$d/restarts"; sleep 1
  fi
done
SH
  chmod 755 "$bindir/systemctl" "$bindir/e2e-supervisor"
}

# Waits up to $2 seconds for /readyz at $1 to answer 200 for version $3.
e2e_wait_ready() {
  local addr=$1 secs=$2 want=$3 i body
  for i in $(seq 1 $((secs * 5))); do
    body=$(curl -fsS "http://$addr/readyz" 2>/dev/null || true)
    case "$body" in *"\"binary_version\":\"$want\""*'"ready":true'* | *'"ready":true'*"\"binary_version\":\"$want\""*)
      printf '%s\n' "$body"; return 0 ;;
    esac
    sleep 0.2
  done
  e2e_die "/readyz at $addr did not report $want ready within ${secs}s (last: $body)"
}

# A fresh copy of the clean Debian root ($E2E_ROOT_BASE, made by debootstrap
# from the configured package mirror: see docs/testing.md) at $1, with
# /proc and /dev mounted; with "standin" as $2, the systemd stand-in in
# /usr/local/bin (ahead of the real, not running, systemctl on PATH).
E2E_ROOT_BASE=${E2E_ROOT_BASE:-/var/tmp/blog-poster-e2e-root}
e2e_fresh_root() {
  local r=$1
  [ -x "$E2E_ROOT_BASE/bin/bash" ] || e2e_die "no clean root at $E2E_ROOT_BASE: debootstrap --variant=minbase --include=systemd,ca-certificates,curl,openssl,sqlite3 bookworm $E2E_ROOT_BASE <mirror>"
  e2e_umount_root "$r"
  rm -rf "$r"
  cp -a "$E2E_ROOT_BASE" "$r"
  mount -t proc proc "$r/proc"
  mount --bind /dev "$r/dev"
  if [ "${2:-}" = standin ]; then e2e_install_systemd_standin "$r/usr/local/bin"; fi
  cp "$E2E_PUBKEY" "$r/root/signing-key.pub"
}
e2e_umount_root() {
  local r=$1
  umount "$r/proc" 2>/dev/null || true
  umount "$r/dev" 2>/dev/null || true
}
