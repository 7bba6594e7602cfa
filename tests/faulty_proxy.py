#!/usr/bin/env python3
"""Test helper for tests/s3.rs: an HTTP proxy on loopback in front of the S3 server that answers
some requests with a fault, so that the tests see how hsmtrail copes with storage that fails.

    faulty_proxy.py PORT UPSTREAM RULE...

UPSTREAM is the S3 server (http://127.0.0.1:PORT). Each RULE is METHOD:SUBSTRING:FAULT:COUNT:
the first COUNT requests whose method is METHOD (or *) and whose path and query contain
SUBSTRING get FAULT instead of (or on top of) the server's answer:

    500     an InternalError response
    503     a SlowDown response, as S3 throttles
    reset   the connection closed without an answer
    cut     the server's answer with its body cut in half, then the connection closed
    stall   no answer for 30 seconds (longer than the client's timeout), then closed

COUNT may be `all`. Every request is logged to stderr as `METHOD PATH -> what`. The proxy stops
after 10 minutes whatever happens, so a test that fails to stop it leaves nothing running.
"""
import http.client
import http.server
import socket
import sys
import threading
import time
import urllib.parse

LIFETIME_SECONDS = 600


class Rule:
    def __init__(self, text):
        self.method, self.substring, self.fault, count = text.split(":")
        self.left = None if count == "all" else int(count)
        self.lock = threading.Lock()

    def take(self, method, path):
        if self.method not in ("*", method) or self.substring not in path:
            return False
        with self.lock:
            if self.left is None:
                return True
            if self.left > 0:
                self.left -= 1
                return True
            return False


def error_body(code, message):
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>").encode()


def make_handler(upstream, rules):
    target = urllib.parse.urlparse(upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def note(self, what):
            sys.stderr.write(f"{self.command} {self.path} -> {what}\n")
            sys.stderr.flush()

        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def forward(self, body):
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            headers = {k: v for k, v in self.headers.items()}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            return resp.status, resp.getheaders(), data

        def answer(self, status, headers, data, cut=False):
            if self.command == "HEAD":
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ("transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.end_headers()
                return
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if cut:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            else:
                self.wfile.write(data)

        def handle_any(self):
            body = self.body()
            fault = next((r.fault for r in rules if r.take(self.command, self.path)), None)
            if fault == "500":
                self.note("500")
                self.answer(500, [("Content-Type", "application/xml")],
                            error_body("InternalError", "injected by faulty_proxy"))
            elif fault == "503":
                self.note("503")
                self.answer(503, [("Content-Type", "application/xml")],
                            error_body("SlowDown", "Please reduce your request rate."))
            elif fault == "reset":
                self.note("reset")
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.connection.close()
            elif fault == "stall":
                self.note("stall")
                time.sleep(30)
                self.close_connection = True
            else:
                status, headers, data = self.forward(body)
                cut = fault == "cut" and len(data) > 1
                self.note(f"{status}{' cut' if cut else ''}")
                self.answer(status, headers, data, cut=cut)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    return Handler


def main():
    port, upstream, *rules = sys.argv[1:]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)),
                                             make_handler(upstream, [Rule(r) for r in rules]))
    server.daemon_threads = True
    threading.Timer(LIFETIME_SECONDS, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
