#!/usr/bin/env bash
# End to end: packaging/install.sh in a clean Debian root (debootstrap) against
# the fake release server: a fresh install of the .deb, a second run (current),
# an upgrade, a tampered artifact and a wrong signature (refused, nothing
# changed), and a tarball install; then the package is purged.
#
#   BLOG_POSTER_SIGNING_KEY_FILE=... CARGO_TARGET_DIR=... scripts/install_e2e.sh
set -euo pipefail
E2E_NAME=install_e2e
. "$(dirname "$0")/e2e_lib.sh"
e2e_key
e2e_build_release "$E2E_V1"
e2e_build_release "$E2E_V2"

# Serve only V1 at first; the hand-made broken releases of other tests aside.
mkdir -p "$E2E_DIR/releases.hold"
for v in "$E2E_DIR"/releases/v*; do
  case "$(basename "$v")" in "v$E2E_V1" | "v$E2E_V2") ;; *) mv "$v" "$E2E_DIR/releases.hold/" ;; esac
done
mv "$E2E_DIR/releases/v$E2E_V2" "$E2E_DIR/releases.hold/" 2>/dev/null || true
e2e_start_server
good_url=$E2E_URL
good_pid=$E2E_SERVER_PID

r=$E2E_DIR/root-install
cleanup() {
  e2e_umount_root "$r"
  kill "$good_pid" "${bad_pid:-}" 2>/dev/null || true
}
trap cleanup EXIT
e2e_fresh_root "$r"
cp "$E2E_REPO/packaging/install.sh" "$r/root/install.sh"
keyenv=""
[ "$E2E_TEST_KEY" = 1 ] && keyenv="BLOG_POSTER_TRUSTED_KEY_FILE=/root/signing-key.pub"
install_sh() { # URL [args]: install.sh in the root against the server at URL
  local url=$1
  shift
  chroot "$r" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    BLOG_POSTER_API_URL="$url" BLOG_POSTER_DOWNLOAD_URL="$url/blog-poster/blog-poster/releases/download" \
    $keyenv bash /root/install.sh "$@"
}
state() { # what must not change when install.sh refuses
  chroot "$r" sh -c 'dpkg-query -W -f "\${Version}\n" blog-poster; sha256sum /usr/bin/blog-poster; ls /var/lib/blog-poster/updates/releases'
}

e2e_log "1. fresh install ($E2E_V1, .deb) in the clean root"
e2e_show install_sh "$good_url"
e2e_show chroot "$r" blog-poster version
e2e_show chroot "$r" getent passwd blog-poster
e2e_show chroot "$r" ls -l /etc/blog-poster /var/lib/blog-poster /usr/lib/systemd/system/blog-poster.service
e2e_show chroot "$r" systemctl is-enabled blog-poster.service 2>/dev/null || true
e2e_show chroot "$r" /usr/bin/systemctl is-enabled blog-poster.service blog-poster-update.path || true

e2e_log "2. the same again: current"
out=$(install_sh "$good_url" 2>&1)
echo "$out"
echo "$out" | grep -q "is installed and current" || e2e_die "second run did not say current"

e2e_log "3. upgrade to $E2E_V2"
mv "$E2E_DIR/releases.hold/v$E2E_V2" "$E2E_DIR/releases/"
e2e_show install_sh "$good_url"
e2e_show chroot "$r" blog-poster version
chroot "$r" blog-poster version | grep -q "$E2E_V2" || e2e_die "not upgraded"

# A server with a bad newer release (0.4.0-test).
bad=$E2E_DIR/releases-bad
rm -rf "$bad" && mkdir -p "$bad"
python3 "$E2E_REPO/scripts/fake_release_server.py" --dir "$bad" >"$E2E_DIR/bad.out" 2>"$E2E_DIR/bad.log" &
bad_pid=$!
for _ in $(seq 1 50); do bad_url=$(sed -n 's/^listening on //p' "$E2E_DIR/bad.out"); [ -n "$bad_url" ] && break; sleep 0.1; done
mkbad() { # copies V2's files as 0.4.0-test (contents unchanged), re-signed
  rm -rf "$bad/v0.4.0-test" && mkdir -p "$bad/v0.4.0-test"
  cp "$E2E_DIR/releases/v$E2E_V2/blog-poster-$E2E_V2-$E2E_TARGET.tar.gz" "$bad/v0.4.0-test/blog-poster-0.4.0-test-$E2E_TARGET.tar.gz"
  cp "$E2E_DIR/releases/v$E2E_V2/blog-poster_${E2E_V2}_amd64.deb" "$bad/v0.4.0-test/blog-poster_0.4.0-test_amd64.deb"
  e2e_sign "$bad/v0.4.0-test" "blog-poster-0.4.0-test-$E2E_TARGET.tar.gz" "blog-poster_0.4.0-test_amd64.deb"
}
before=$(state)

e2e_log "4. a tampered .deb is refused"
mkbad
printf 'x' >>"$bad/v0.4.0-test/blog-poster_0.4.0-test_amd64.deb"
set +e
out=$(install_sh "$bad_url" 2>&1)
code=$?
set -e
echo "$out"
[ $code != 0 ] || e2e_die "a tampered .deb was accepted"
echo "$out" | grep -q "does not match its checksum" || e2e_die "no clear message"
[ "$(state)" = "$before" ] || e2e_die "something changed"

e2e_log "5. a wrong signature is refused"
mkbad
openssl genpkey -algorithm ed25519 -out "$E2E_DIR/wrong-key.pem"
openssl pkeyutl -sign -rawin -inkey "$E2E_DIR/wrong-key.pem" -in "$bad/v0.4.0-test/SHA256SUMS" -out "$bad/v0.4.0-test/SHA256SUMS.sig"
set +e
out=$(install_sh "$bad_url" 2>&1)
code=$?
set -e
echo "$out"
[ $code != 0 ] || e2e_die "a wrong signature was accepted"
echo "$out" | grep -q "does not verify with the release key" || e2e_die "no clear message"
[ "$(state)" = "$before" ] || e2e_die "something changed"

e2e_log "6. purge removes it (the data too); the user stays (Debian policy)"
e2e_show chroot "$r" dpkg --purge blog-poster
for p in /usr/bin/blog-poster /usr/lib/systemd/system/blog-poster.service /var/lib/blog-poster /etc/blog-poster; do
  [ ! -e "$r$p" ] || e2e_die "$p is still there after purge"
done
echo "gone: /usr/bin/blog-poster, the units, /var/lib/blog-poster, /etc/blog-poster"

e2e_log "7. the tarball road (BLOG_POSTER_INSTALL_KIND=tarball) in another clean root"
r2=$E2E_DIR/root-tarball
e2e_fresh_root "$r2"
cp "$E2E_REPO/packaging/install.sh" "$r2/root/install.sh"
chroot "$r2" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin BLOG_POSTER_INSTALL_KIND=tarball \
  BLOG_POSTER_API_URL="$good_url" BLOG_POSTER_DOWNLOAD_URL="$good_url/blog-poster/blog-poster/releases/download" \
  $keyenv bash /root/install.sh
e2e_show chroot "$r2" ls -l /usr/local/bin/blog-poster /etc/systemd/system/blog-poster.service /etc/blog-poster/config.toml
e2e_show chroot "$r2" blog-poster version
grep -q '^ExecStart=/usr/local/bin/blog-poster' "$r2/etc/systemd/system/blog-poster.service" || e2e_die "unit not pointed at /usr/local/bin"
e2e_umount_root "$r2"
e2e_log "PASSED"
