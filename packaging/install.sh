#!/usr/bin/env bash
# Installs a built blog-poster as a systemd service on this machine (root).
#
#   cargo build --release && sudo bash packaging/install.sh
#
# Puts the static binary in /usr/bin, the unit, sysusers and tmpfiles files
# under /usr/lib, writes /etc/blog-poster/config.toml if there is none, and
# enables the service without starting it: edit the config first.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/x86_64-unknown-linux-gnu/release/blog-poster
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

install -m 0755 "$bin" /usr/bin/blog-poster
install -D -m 0644 systemd/blog-poster.service /usr/lib/systemd/system/blog-poster.service
install -D -m 0644 systemd/blog-poster.sysusers /usr/lib/sysusers.d/blog-poster.conf
install -D -m 0644 systemd/blog-poster.tmpfiles /usr/lib/tmpfiles.d/blog-poster.conf
install -D -m 0644 docs/operations.md /usr/share/doc/blog-poster/operations.md
systemd-sysusers /usr/lib/sysusers.d/blog-poster.conf
systemd-tmpfiles --create /usr/lib/tmpfiles.d/blog-poster.conf
if [ ! -e /etc/blog-poster/config.toml ]; then
  blog-poster init --path /etc/blog-poster/config.toml
  chgrp blog-poster /etc/blog-poster/config.toml && chmod 0640 /etc/blog-poster/config.toml
fi
[ -e /etc/blog-poster/env ] || install -m 0640 -g blog-poster /dev/null /etc/blog-poster/env
systemctl daemon-reload
systemctl enable blog-poster
echo "installed. Edit /etc/blog-poster/config.toml (secrets in /etc/blog-poster/env),"
echo "check it with: blog-poster config check --config /etc/blog-poster/config.toml"
echo "then: systemctl start blog-poster && journalctl -u blog-poster -f"
