#!/usr/bin/env python3
"""A local HTTP server for backing-image tests:
  python3 image_server.py DIR PORT [--host ADDRESS] [--tls CERT KEY]   (--tls: HTTPS with that certificate)

Paths (FILE is a file under DIR):
  /img/FILE     the file, with range requests (206) and Accept-Ranges
  /norange/FILE the file, ranges ignored (a server that can only restart a transfer)
  /cut/FILE     the first request gets the headers and half the body, then the connection
                closes; later requests are served as /img/ (a transfer that resumes)
  /stall/FILE   the headers and 4 KiB, then nothing until the client leaves
  anything else 404
Each request is logged to DIR/requests.log as "METHOD PATH RANGE".
"""
import argparse
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("root")
parser.add_argument("port", type=int)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
arguments = parser.parse_args()
ROOT, PORT, HOST = arguments.root, arguments.port, arguments.host
cut_done = set()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        with lock, open(os.path.join(ROOT, "requests.log"), "a") as log:
            log.write(f"GET {self.path} {self.headers.get('Range', '-')}\n")
        parts = self.path.strip("/").split("/", 1)
        if len(parts) != 2 or parts[0] not in ("img", "norange", "cut", "stall"):
            return self.send_error(404, "no such image")
        mode, name = parts
        path = os.path.join(ROOT, name)
        if "/" in name or not os.path.isfile(path):
            return self.send_error(404, "no such image")
        data = open(path, "rb").read()
        if mode == "cut":
            with lock:
                first = name not in cut_done
                cut_done.add(name)
            if first:
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            mode = "img"
        if mode == "stall":
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:4096])
            self.wfile.flush()
            while True:
                time.sleep(1)
        start = 0
        requested = self.headers.get("Range", "")
        if mode == "img" and requested.startswith("bytes=") and requested.endswith("-"):
            start = int(requested[len("bytes="):-1])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        if mode == "img":
            self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


server = ThreadingHTTPServer((HOST, PORT), Handler)
if arguments.tls:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*arguments.tls)
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
