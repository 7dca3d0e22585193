#!/usr/bin/env python3
"""A local S3-compatible server for the backup tests: moto's S3 (which
stores objects and speaks the S3 wire format, but does not check the
signatures of presigned URLs) behind a small proxy that DOES check them.

The proxy recomputes the AWS Signature Version 4 of every request's
presigned query string (X-Amz-Algorithm, -Credential, -Date, -Expires,
-SignedHeaders, -Signature; payload UNSIGNED-PAYLOAD) with the test key and
secret, refuses expired URLs, unknown keys and wrong signatures with S3's
own error XML (403 SignatureDoesNotMatch / InvalidAccessKeyId /
AccessDenied), and forwards only valid requests to moto.

Usage: fake_s3.py ACCESS_KEY SECRET_KEY BUCKET
Prints "ready PORT" once both listen on 127.0.0.1; runs until killed.
"""

import datetime
import hashlib
import hmac
import http.client
import http.server
import socket
import sys
import threading
import urllib.parse
import urllib.request

from moto.server import ThreadedMotoServer

ACCESS_KEY, SECRET_KEY, BUCKET = sys.argv[1], sys.argv[2], sys.argv[3]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uri_encode(s):
    return urllib.parse.quote(s, safe="-_.~")


def check_signature(method, target, headers):
    """None if the presigned request is valid, else (code, message)."""
    path, _, query = target.partition("?")
    pairs = []
    for part in query.split("&") if query else []:
        k, _, v = part.partition("=")
        pairs.append((urllib.parse.unquote(k), urllib.parse.unquote(v)))
    params = dict(pairs)
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        return ("AccessDenied", "not a SigV4 presigned request")
    try:
        akid, date, region, service, term = params["X-Amz-Credential"].split("/")
        amz_date = params["X-Amz-Date"]
        expires = int(params["X-Amz-Expires"])
        signed = params["X-Amz-SignedHeaders"].split(";")
        given = params["X-Amz-Signature"]
    except (KeyError, ValueError):
        return ("AccessDenied", "incomplete presigned query")
    if akid != ACCESS_KEY:
        return ("InvalidAccessKeyId", "unknown access key")
    signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.timezone.utc
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    if now > signed_at + datetime.timedelta(seconds=expires):
        return ("AccessDenied", "Request has expired")
    lower = {k.lower(): v for k, v in headers.items()}
    canonical_query = "&".join(
        sorted(
            f"{uri_encode(k)}={uri_encode(v)}"
            for k, v in pairs
            if k != "X-Amz-Signature"
        )
    )
    canonical_headers = "".join(f"{h}:{lower.get(h, '').strip()}\n" for h in signed)
    canonical_request = "\n".join(
        [method, path, canonical_query, canonical_headers, ";".join(signed), "UNSIGNED-PAYLOAD"]
    )
    scope = f"{date}/{region}/{service}/{term}"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (date, region, service, term):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        return ("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided")
    return None


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        problem = check_signature(self.command, self.path, self.headers)
        if problem:
            code, message = problem
            payload = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error>"
            ).encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "transfer-encoding")}
        headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_DELETE = do_HEAD = do_POST = handle_any


def main():
    moto_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port)
    moto.start()
    req = urllib.request.Request(f"http://127.0.0.1:{moto_port}/{BUCKET}", method="PUT")
    urllib.request.urlopen(req).read()
    Proxy.upstream = moto_port
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    print(f"ready {server.server_address[1]}", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
