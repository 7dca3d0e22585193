#!/usr/bin/env python3
"""A release server on loopback speaking the GitHub Releases shapes that
blog-poster's self-update (the self_update crate) and packaging/install.sh use.

    python3 scripts/fake_release_server.py --dir RELEASES [--port 0]

RELEASES holds one folder per tag (v0.2.0/, v0.3.0/ ...) with the release's
asset files, and optionally notes.md (the release body). Prints
"listening on http://127.0.0.1:PORT" once bound. Answers, as GitHub does:

  GET /repos/O/R/releases?per_page=N      JSON list, newest first
  GET /repos/O/R/releases/latest          JSON of the newest release
  GET /repos/O/R/releases/tags/TAG        JSON of one release
  GET /repos/O/R/releases/assets/TAG/NAME asset JSON, or the bytes with
                                          Accept: application/octet-stream
  GET /O/R/releases/download/TAG/NAME     the bytes (browser download URL)
  GET /O/R/releases/latest/download/NAME  the newest release's bytes

Every request is logged to stderr. Only for tests: it binds 127.0.0.1.
"""
import argparse
import json
import os
import re
import sys
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$")


def version_key(tag):
    m = VERSION.match(tag)
    if not m:
        return None
    major, minor, patch, pre = m.groups()
    # A pre-release sorts before its release (semver).
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre or "")


class Releases:
    def __init__(self, root):
        self.root = root

    def tags(self):
        tags = [t for t in os.listdir(self.root)
                if os.path.isdir(os.path.join(self.root, t)) and version_key(t)]
        return sorted(tags, key=version_key, reverse=True)

    def assets(self, tag):
        d = os.path.join(self.root, tag)
        return sorted(f for f in os.listdir(d)
                      if os.path.isfile(os.path.join(d, f)) and f != "notes.md")

    def release_json(self, base, owner, repo, tag):
        d = os.path.join(self.root, tag)
        notes = os.path.join(d, "notes.md")
        body = open(notes, encoding="utf-8").read() if os.path.exists(notes) else None
        created = datetime.fromtimestamp(os.path.getmtime(d), timezone.utc)
        return {
            "url": f"{base}/repos/{owner}/{repo}/releases/{tag}",
            "html_url": f"{base}/{owner}/{repo}/releases/tag/{tag}",
            "tag_name": tag,
            "name": tag,
            "draft": False,
            "prerelease": "-" in tag,
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "published_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "body": body,
            "assets": [
                {
                    "url": f"{base}/repos/{owner}/{repo}/releases/assets/{tag}/{name}",
                    "browser_download_url": f"{base}/{owner}/{repo}/releases/download/{tag}/{name}",
                    "name": name,
                    "content_type": "application/octet-stream",
                    "size": os.path.getsize(os.path.join(d, name)),
                    "state": "uploaded",
                }
                for name in self.assets(tag)
            ],
        }


def handler(releases):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            sys.stderr.write("fake-release-server: " + (fmt % args) + "\n")

        def send_json(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def not_found(self):
            self.send_json(404, {"message": "Not Found",
                                 "documentation_url": "https://docs.github.com/rest"})

        def send_file(self, tag, name):
            path = os.path.join(releases.root, tag, name)
            if tag not in releases.tags() or name not in releases.assets(tag):
                return self.not_found()
            data = open(path, "rb").read()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            host = self.headers.get("Host") or "127.0.0.1"
            base = f"http://{host}"
            path = urlparse(self.path).path
            parts = [p for p in path.split("/") if p]
            tags = releases.tags()
            if len(parts) >= 4 and parts[0] == "repos" and parts[3] == "releases":
                owner, repo, rest = parts[1], parts[2], parts[4:]
                if not rest:
                    return self.send_json(200, [releases.release_json(base, owner, repo, t) for t in tags])
                if rest == ["latest"]:
                    if not tags:
                        return self.not_found()
                    return self.send_json(200, releases.release_json(base, owner, repo, tags[0]))
                if len(rest) == 2 and rest[0] == "tags" and rest[1] in tags:
                    return self.send_json(200, releases.release_json(base, owner, repo, rest[1]))
                if len(rest) == 3 and rest[0] == "assets":
                    tag, name = rest[1], rest[2]
                    if "application/octet-stream" in (self.headers.get("Accept") or ""):
                        return self.send_file(tag, name)
                    if tag in tags:
                        rel = releases.release_json(base, owner, repo, tag)
                        for a in rel["assets"]:
                            if a["name"] == name:
                                return self.send_json(200, a)
                return self.not_found()
            if len(parts) == 6 and parts[2:4] == ["releases", "download"]:
                return self.send_file(parts[4], parts[5])
            if len(parts) == 6 and parts[2:5] == ["releases", "latest", "download"] and tags:
                return self.send_file(tags[0], parts[5])
            return self.not_found()

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(Releases(args.dir)))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
