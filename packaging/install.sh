#!/usr/bin/env bash
# Installs blog-poster from a signed GitHub release on a fresh server (root).
#
#   curl -fsSL https://github.com/blog-poster/blog-poster/releases/latest/download/install.sh | sudo bash
#   sudo bash install.sh [--version 0.3.0]
#
# Fetches the release (the latest, or --version), verifies SHA256SUMS and the
# artifact against the ed25519 public key below (openssl), then installs the
# .deb on Debian and Ubuntu (apt) or the tarball elsewhere, writes a starter
# config if there is none, enables the service without starting it, and
# prints the next three steps. Run again: upgrades, or says it is current.
# Nothing is changed unless every check passes.
#
# Mirrors and tests: BLOG_POSTER_REPO (owner/name), BLOG_POSTER_API_URL (the
# GitHub API), BLOG_POSTER_DOWNLOAD_URL (where TAG/FILE are downloaded from),
# BLOG_POSTER_TRUSTED_KEY_FILE (a PEM key to trust instead of the one below,
# for your own builds), BLOG_POSTER_INSTALL_KIND=deb|tarball (default: deb
# where apt and dpkg are).
set -euo pipefail

repo=${BLOG_POSTER_REPO:-blog-poster/blog-poster}
api=${BLOG_POSTER_API_URL:-https://api.github.com}
download=${BLOG_POSTER_DOWNLOAD_URL:-https://github.com/$repo/releases/download}
target=x86_64-unknown-linux-gnu

# The release public key: packaging/release-key.pub (scripts/release.sh
# refuses to publish an install.sh whose key differs).
release_key='-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAt3zIHsKDxFBiOZGZkz5ASsGiGA4Nzy3oKJTScqlfOMA=
-----END PUBLIC KEY-----'

say() { printf 'blog-poster install: %s\n' "$*"; }
die() {
  printf 'blog-poster install: ERROR: %s\n' "$*" >&2
  exit 1
}

version=""
while [ $# -gt 0 ]; do
  case "$1" in
  --version) version=${2:-}; shift 2 ;;
  --version=*) version=${1#--version=}; shift ;;
  -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
  *) die "unknown argument \"$1\" (use --version X)" ;;
  esac
done
version=${version#v}

[ "$(id -u)" = 0 ] || die "run as root (sudo bash install.sh)"
[ "$(uname -m)" = x86_64 ] || die "releases are built for x86_64 only; this machine is $(uname -m)"

kind=${BLOG_POSTER_INSTALL_KIND:-}
if [ -z "$kind" ]; then
  if command -v apt-get >/dev/null && command -v dpkg >/dev/null; then kind=deb; else kind=tarball; fi
fi
case "$kind" in deb | tarball) ;; *) die "BLOG_POSTER_INSTALL_KIND must be deb or tarball" ;; esac

need=()
for tool in curl openssl sha256sum tar; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$kind" = deb ]; then
    say "installing ${need[*]} (needed to fetch and verify the release)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl openssl ca-certificates coreutils tar >/dev/null
  else
    die "missing ${need[*]}: install them first"
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
key=$work/release-key.pub
if [ -n "${BLOG_POSTER_TRUSTED_KEY_FILE:-}" ]; then
  cp "$BLOG_POSTER_TRUSTED_KEY_FILE" "$key"
  say "trusting $BLOG_POSTER_TRUSTED_KEY_FILE instead of the release key"
else
  printf '%s\n' "$release_key" >"$key"
fi

if [ -z "$version" ]; then
  latest=$(curl -fsSL -H 'Accept: application/vnd.github+json' "$api/repos/$repo/releases/latest") ||
    die "cannot ask $api for the latest release of $repo"
  version=$(printf '%s' "$latest" | tr ',' '\n' | sed -n 's/^[[:space:]{]*"tag_name"[[:space:]]*:[[:space:]]*"v\{0,1\}\([^"]*\)".*/\1/p' | head -n1)
  [ -n "$version" ] || die "no tag_name in $api/repos/$repo/releases/latest"
fi
case "$version" in
*[!0-9A-Za-z.-]* | "") die "\"$version\" is not a version" ;;
esac

installed=""
if command -v blog-poster >/dev/null; then
  installed=$(blog-poster version --json 2>/dev/null | sed -n 's/.*"version":"\([^"]*\)".*/\1/p' || true)
fi
if [ "$installed" = "$version" ]; then
  say "blog-poster $version is installed and current; nothing to do"
  exit 0
fi

fetch() { # NAME: downloads release asset NAME into $work
  curl -fsSL --retry 3 -o "$work/$1" "$download/v$version/$1" ||
    die "cannot download $1 of release $version from $download/v$version/"
}
verify_sig() { # FILE
  openssl pkeyutl -verify -pubin -inkey "$key" -rawin -in "$work/$1" -sigfile "$work/$1.sig" >/dev/null 2>&1 ||
    die "the signature of $1 does not verify with the release key: the file was changed or signed by someone else. Nothing was installed."
}

tarball=blog-poster-$version-$target.tar.gz
deb=blog-poster_${version}_amd64.deb
assets=("$tarball")
[ "$kind" = deb ] && assets+=("$deb")
say "fetching release $version ($kind) from $download"
fetch SHA256SUMS
fetch SHA256SUMS.sig
verify_sig SHA256SUMS
for a in "${assets[@]}"; do
  fetch "$a"
  fetch "$a.sig"
  line=$(grep -E "^[0-9a-f]{64}  $a\$" "$work/SHA256SUMS" || true)
  [ -n "$line" ] || die "$a is not listed in the signed SHA256SUMS. Nothing was installed."
  (cd "$work" && printf '%s\n' "$line" | sha256sum -c --quiet - >/dev/null 2>&1) ||
    die "$a does not match its checksum in the signed SHA256SUMS: the download is damaged or was tampered with. Nothing was installed."
  verify_sig "$a"
done
say "verified SHA256SUMS and ${assets[*]}"

# A backup before an upgrade (SQLite), taken by the installed binary.
if [ -n "$installed" ] && [ -e /var/lib/blog-poster/blog-poster.db ]; then
  say "upgrade $installed → $version: taking a backup first"
  blog-poster --config /etc/blog-poster/config.toml backup create >/dev/null ||
    die "the pre-upgrade backup failed; nothing was installed (see: blog-poster backup create)"
  chown -R blog-poster:blog-poster /var/lib/blog-poster/backups 2>/dev/null || true
fi

if [ "$kind" = deb ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confold "$work/$deb" >/dev/null ||
    die "apt-get install $deb failed"
else
  tar -C "$work" -xzf "$work/$tarball"
  src=$work/blog-poster-$version-$target
  install -m 0755 "$src/blog-poster" /usr/local/bin/.blog-poster.new
  mv -f /usr/local/bin/.blog-poster.new /usr/local/bin/blog-poster
  for unit in blog-poster.service blog-poster-update.service blog-poster-update.path; do
    sed 's|/usr/bin/blog-poster|/usr/local/bin/blog-poster|g' "$src/systemd/$unit" >"/etc/systemd/system/$unit"
  done
  install -D -m 0644 "$src/systemd/blog-poster.sysusers" /etc/sysusers.d/blog-poster.conf
  install -D -m 0644 "$src/systemd/blog-poster.tmpfiles" /etc/tmpfiles.d/blog-poster.conf
  systemd-sysusers /etc/sysusers.d/blog-poster.conf
  systemd-tmpfiles --create /etc/tmpfiles.d/blog-poster.conf
  if [ ! -e /etc/blog-poster/config.toml ]; then
    install -m 0640 -g blog-poster "$src/config.toml" /etc/blog-poster/config.toml
  fi
  [ -e /etc/blog-poster/env ] || install -m 0640 -g blog-poster /dev/null /etc/blog-poster/env
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl try-restart blog-poster.service || true
  fi
  systemctl enable blog-poster.service blog-poster-update.path >/dev/null 2>&1 ||
    say "could not enable the units (no systemd?): enable blog-poster.service yourself"
fi

# The verified release is self-update's way back from the next update.
keep=/var/lib/blog-poster/updates/releases/$version
mkdir -p "$keep"
cp "$work/SHA256SUMS" "$work/SHA256SUMS.sig" "$keep/"
for a in "${assets[@]}"; do cp "$work/$a" "$work/$a.sig" "$keep/"; done
chown -R blog-poster:blog-poster /var/lib/blog-poster/updates 2>/dev/null || true

now=$(blog-poster version 2>/dev/null || true)
say "installed: ${now:-blog-poster $version}"
if [ -n "$installed" ]; then
  say "upgraded from $installed. Later updates, with automatic rollback: sudo blog-poster self-update"
  exit 0
fi
cat <<'NEXT'

Next steps:
  1. Secrets and sites: put API keys and WordPress application passwords in
     /etc/blog-poster/env (e.g. ANTHROPIC_API_KEY=...), and your sites in
     /etc/blog-poster/config.toml (annotated example:
     /usr/share/doc/blog-poster/config.example.toml).
  2. Check it end to end:   sudo sh -c 'set -a; . /etc/blog-poster/env; blog-poster doctor'
  3. Start it:              sudo systemctl start blog-poster
     (then: journalctl -u blog-poster -f; status page on 127.0.0.1:8080)
NEXT
