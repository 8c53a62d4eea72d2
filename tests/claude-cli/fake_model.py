#!/usr/bin/env python3
"""A scripted stand-in for the Anthropic Messages API, for tests/claude_cli.rs.

Listens on 127.0.0.1 (port 0 unless given), prints "port <n>" on stdout once
ready, and logs one JSON line per request to the file named by --log (method,
path, a few headers and request fields) so a test can show what the CLI asked.

POST /v1/messages[?beta=true]       -> a text answer, as SSE when "stream" is
                                       true, else one JSON message
POST /v1/messages/count_tokens      -> {"input_tokens": n}
HEAD/GET anything else              -> 404 with an Anthropic-style error body
Standard library only; one thread per connection, HTTP/1.1 keep-alive.
"""

import argparse
import itertools
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = "hi"
USAGE = {
    "input_tokens": 12,
    "output_tokens": 3,
    "cache_read_input_tokens": 0,
    "cache_creation_input_tokens": 0,
}
COUNTER = itertools.count(1)
LOG_LOCK = threading.Lock()


def sse(event, data):
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-anthropic/1"

    def log_message(self, fmt, *args):  # quiet: requests go to --log instead
        pass

    def record(self, status, body_json, request_id=None):
        entry = {
            "method": self.command,
            "path": self.path,
            "status": status,
            "request_id": request_id,
            "user_agent": self.headers.get("user-agent"),
            "anthropic_beta": self.headers.get("anthropic-beta"),
        }
        if isinstance(body_json, dict):
            entry["model"] = body_json.get("model")
            entry["stream"] = body_json.get("stream")
            entry["max_tokens"] = body_json.get("max_tokens")
            entry["messages"] = len(body_json.get("messages") or [])
            entry["tools"] = len(body_json.get("tools") or [])
        if self.server.log_path:
            with LOG_LOCK, open(self.server.log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def read_body(self):
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def send(self, status, ctype, payload, extra=()):
        data = payload.encode() if isinstance(payload, str) else payload
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def not_found(self, body=None):
        self.record(404, body)
        err = {"type": "error", "error": {"type": "not_found_error", "message": "fake server: " + self.path}}
        self.send(404, "application/json", json.dumps(err))

    def do_GET(self):
        self.not_found()

    def do_HEAD(self):
        self.not_found()

    def do_POST(self):
        body = self.read_body()
        path = self.path.split("?", 1)[0]
        if path == "/v1/messages/count_tokens":
            self.record(200, body)
            self.send(200, "application/json", json.dumps({"input_tokens": USAGE["input_tokens"]}))
        elif path == "/v1/messages":
            self.messages(body or {})
        else:
            self.not_found(body)

    def messages(self, body):
        n = next(COUNTER)
        msg_id = f"msg_fake{n:08d}"
        req_id = f"req_fake{n:08d}"
        model = body.get("model") or "claude-sonnet-4-5"
        self.record(200, body, req_id)
        headers = [("request-id", req_id), ("anthropic-organization-id", "00000000-0000-0000-0000-000000000000")]
        if not body.get("stream"):
            message = {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": ANSWER}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": dict(USAGE),
            }
            self.send(200, "application/json", json.dumps(message), headers)
            return
        start_usage = dict(USAGE, output_tokens=1)
        events = [
            sse("message_start", {
                "type": "message_start",
                "message": {
                    "id": msg_id, "type": "message", "role": "assistant", "model": model,
                    "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage,
                },
            }),
            sse("content_block_start", {"type": "content_block_start", "index": 0,
                                        "content_block": {"type": "text", "text": ""}}),
            sse("ping", {"type": "ping"}),
            sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": ANSWER}}),
            sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            sse("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": dict(USAGE)}),
            sse("message_stop", {"type": "message_stop"}),
        ]
        self.send(200, "text/event-stream; charset=utf-8", "".join(events),
                  headers + [("cache-control", "no-cache")])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default=None)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.log_path = args.log
    print(f"port {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
