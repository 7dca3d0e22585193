#!/usr/bin/env bash
# Builds and signs a release of blog-poster into dist/VERSION/:
#
#   BLOG_POSTER_SIGNING_KEY_FILE=/secure/release-key.pem scripts/release.sh 0.3.0
#
#   blog-poster-VERSION-x86_64-unknown-linux-gnu.tar.gz  static binary, units,
#                                   starter and example config, README, LICENSE
#   blog-poster_VERSION_amd64.deb   cargo-deb: /usr/bin/blog-poster, units,
#                                   sysusers, tmpfiles, /etc/blog-poster/config.toml
#   install.sh                      packaging/install.sh (the one-line install)
#   SHA256SUMS                      sha256 of the three
#   *.sig                           ed25519 signature of each file above
#   notes.md                        this version's CHANGELOG section
#
# The signing key (ed25519, PEM) comes from BLOG_POSTER_SIGNING_KEY_FILE or
# BLOG_POSTER_SIGNING_KEY (the PEM text); never from the repository. Make one:
#   openssl genpkey -algorithm ed25519 -out release-key.pem
#   openssl pkey -in release-key.pem -pubout -out packaging/release-key.pub
# A key whose public half is not packaging/release-key.pub is refused (the
# binaries would refuse its releases) unless BLOG_POSTER_ALLOW_TEST_KEY=1.
# Cargo.toml's version must be VERSION: the binary reports it.
# .github/workflows/release.yml runs this on a tag; keep them in step.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[release.sh] %s\n' "$*" >&2; }
die() {
  printf '[release.sh] ERROR: %s\n' "$*" >&2
  exit 1
}

version=${1:-}
[ -n "$version" ] || die "usage: scripts/release.sh VERSION (e.g. 0.3.0)"
version=${version#v}
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || die "\"$version\" is not a semver version"
cargo_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ "$cargo_version" = "$version" ] ||
  die "Cargo.toml says version $cargo_version, not $version: set it (and commit) first, the binary reports it"

target=x86_64-unknown-linux-gnu
target_dir=${CARGO_TARGET_DIR:-target}
# Only for trying the packaging on a busy machine: another Cargo profile
# (e.g. dev, which rebuilds only this crate). Never for a published release.
profile=${BLOG_POSTER_RELEASE_PROFILE:-release}
profile_dir=$profile
[ "$profile" = dev ] && profile_dir=debug
out=dist/$version
name=blog-poster-$version-$target

# The signing key: a file, or the PEM text in the environment.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
key=$work/signing-key.pem
if [ -n "${BLOG_POSTER_SIGNING_KEY_FILE:-}" ]; then
  [ -r "$BLOG_POSTER_SIGNING_KEY_FILE" ] || die "cannot read BLOG_POSTER_SIGNING_KEY_FILE=$BLOG_POSTER_SIGNING_KEY_FILE"
  cp "$BLOG_POSTER_SIGNING_KEY_FILE" "$key"
elif [ -n "${BLOG_POSTER_SIGNING_KEY:-}" ]; then
  printf '%s\n' "$BLOG_POSTER_SIGNING_KEY" >"$key"
else
  die "no signing key: set BLOG_POSTER_SIGNING_KEY_FILE (a PEM file) or BLOG_POSTER_SIGNING_KEY (its text)"
fi
chmod 600 "$key"
openssl pkey -in "$key" -pubout -out "$work/public.pem" 2>/dev/null || die "the signing key is not a PEM private key"
openssl pkey -pubin -in "$work/public.pem" -text -noout 2>/dev/null | grep -q ED25519 ||
  die "the signing key is not an ed25519 key (openssl genpkey -algorithm ed25519)"
if ! cmp -s "$work/public.pem" packaging/release-key.pub; then
  if [ "${BLOG_POSTER_ALLOW_TEST_KEY:-}" = 1 ]; then
    log "WARNING: signing with a key that is not packaging/release-key.pub (BLOG_POSTER_ALLOW_TEST_KEY=1):"
    log "         released binaries refuse these artifacts unless [update] trusted_keys names its public half"
  else
    die "the signing key's public half is not packaging/release-key.pub: installed binaries would refuse this release (a test release: BLOG_POSTER_ALLOW_TEST_KEY=1)"
  fi
fi
# install.sh carries the key too; it must be the same.
embedded=$(sed -n "/^release_key='-----BEGIN PUBLIC KEY-----$/,/^-----END PUBLIC KEY-----'$/p" packaging/install.sh | tr -d "'" | sed 's/^release_key=//')
[ "$embedded" = "$(cat packaging/release-key.pub)" ] ||
  die "packaging/install.sh embeds another key than packaging/release-key.pub: update its release_key"

if [ "$profile" != release ]; then
  log "WARNING: profile $profile, not release: these artifacts are for testing the packaging only"
fi
log "building the static binary ($target, profile $profile, target dir $target_dir)"
cargo build --profile "$profile" --locked --target "$target"
bin=$target_dir/$target/$profile_dir/blog-poster
file "$bin" | grep -q 'static-pie linked\|statically linked' || die "$bin is not statically linked: $(file "$bin")"
"$bin" version --json | grep -q "\"version\":\"$version\"" || die "$bin does not say it is $version: $("$bin" version)"

rm -rf "$out"
mkdir -p "$out/$name/systemd"
cp "$bin" "$out/$name/blog-poster"
cp systemd/blog-poster.service systemd/blog-poster-update.service systemd/blog-poster-update.path \
  systemd/blog-poster.sysusers systemd/blog-poster.tmpfiles "$out/$name/systemd/"
cp packaging/config.toml "$out/$name/config.toml"
cp config/blog-poster.example.toml "$out/$name/config.example.toml"
cp README.md LICENSE CHANGELOG.md "$out/$name/"
# Reproducible: fixed owner, order and times (the last commit's).
mtime=$(git log -1 --format=%cI 2>/dev/null || date -u +%FT%TZ)
tar -C "$out" --sort=name --owner=0 --group=0 --numeric-owner --mtime="$mtime" \
  -cf - "$name" | gzip -9n >"$out/$name.tar.gz"
rm -rf "${out:?}/$name"

log "packaging the .deb (cargo-deb)"
# Debian's changelog for this version (cargo-deb gzips it into the package).
mkdir -p dist
cat >dist/changelog.Debian <<CHANGELOG
blog-poster ($version-1) stable; urgency=medium

  * Release $version; what changed: /usr/share/doc/blog-poster/README.md and
    the release notes of v$version.

 -- blog-poster maintainers <blog-poster@users.noreply.github.com>  $(date -u -R -d "$mtime")
CHANGELOG
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --version 3.8.0
deb_flags=()
[ "$profile" = release ] || deb_flags=(--fast)
cargo deb --no-build --profile "$profile" --target "$target" "${deb_flags[@]}" --output "$out/deb.tmp" >/dev/null
mv "$out"/deb.tmp/*.deb "$out/blog-poster_${version}_amd64.deb" 2>/dev/null ||
  mv "$out/deb.tmp" "$out/blog-poster_${version}_amd64.deb"
rm -rf "$out/deb.tmp"

cp packaging/install.sh "$out/install.sh"

# This version's section of the changelog (else Unreleased), for the release page.
awk -v v="$version" '
  /^## / { if (on) exit; if (index($0, "[" v "]") || index($0, "[Unreleased]")) { on = 1; next } }
  on { print }' CHANGELOG.md >"$out/notes.md"

artifacts=("$name.tar.gz" "blog-poster_${version}_amd64.deb" install.sh)
(cd "$out" && sha256sum "${artifacts[@]}" >SHA256SUMS)
for f in "${artifacts[@]}" SHA256SUMS; do
  openssl pkeyutl -sign -rawin -inkey "$key" -in "$out/$f" -out "$out/$f.sig"
  openssl pkeyutl -verify -pubin -inkey "$work/public.pem" -rawin -in "$out/$f" -sigfile "$out/$f.sig" >/dev/null ||
    die "cannot verify the signature just made for $f"
done

log "release $version in $out:"
(cd "$out" && for f in "${artifacts[@]}" SHA256SUMS; do
  printf '  %-52s %10s bytes  (+ .sig, %s bytes)\n' "$f" "$(stat -c %s "$f")" "$(stat -c %s "$f.sig")"
done)
printf '  %-52s %10s bytes  (the binary inside)\n' blog-poster "$(stat -c %s "$bin")"
