"""A scripted OpenAI-compatible chat-completions server for tests (stdlib only).

POST /v1/chat/completions answers with the next scripted ``Reply`` — as one JSON body, or
as server-sent events (``data: {...}`` chunks, then ``data: [DONE]``) when the request says
``"stream": true``. The last reply repeats once the script runs out. Every request body is
recorded, so tests can assert what the model was shown and how often it was asked.

Run it on its own for manual trials: ``python tests/llm_server.py "答案[1]。"`` serves that
reply forever and prints the base URL to use as RAG_LLM_BASE_URL.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Reply:
    text: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before anything is sent
    raw: str | None = None  # sent verbatim instead of a well-formed body (malformed replies)
    chunk_chars: int = 4  # SSE piece size


class ScriptedLLM:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.replies: list[Reply | Callable[[dict], Reply]] = [Reply("")]
        self.requests: list[dict] = []
        self.headers: list[dict] = []  # lower-cased header names
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    body = {}
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                reply = owner._next(body, {k.lower(): v for k, v in self.headers.items()})
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    return self._send(reply.status, {"error": {"message": reply.text or "scripted error",
                                                               "type": "scripted"}}, reply.headers)
                if body.get("stream"):
                    return self._stream(reply, body)
                if reply.raw is not None:
                    return self._send_raw(200, reply.raw.encode(), "application/json")
                return self._send(200, completion(reply.text, body.get("model", "scripted")), reply.headers)

            def _stream(self, reply: Reply, body: dict):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                if reply.raw is not None:
                    events = [reply.raw]
                else:
                    model = body.get("model", "scripted")
                    pieces = [reply.text[i : i + reply.chunk_chars] for i in range(0, len(reply.text), reply.chunk_chars)]
                    events = [json.dumps(chunk(p, model, first=i == 0), ensure_ascii=False) for i, p in enumerate(pieces)]
                    events.append(json.dumps(chunk("", model, finish="stop"), ensure_ascii=False))
                    events.append("[DONE]")
                try:
                    for event in events:
                        self.wfile.write(f"data: {event}\n\n".encode())
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def _send(self, status: int, payload: dict, headers: dict | None = None):
                self._send_raw(status, json.dumps(payload, ensure_ascii=False).encode(), "application/json", headers)

            def _send_raw(self, status: int, data: bytes, ctype: str, headers: dict | None = None):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *replies: Reply | str | Callable[[dict], Reply]) -> "ScriptedLLM":
        """Replace the script and forget earlier requests."""
        with self._lock:
            self.replies = [Reply(r) if isinstance(r, str) else r for r in replies] or [Reply("")]
            self.requests.clear()
            self.headers.clear()
        return self

    def _next(self, body: dict, headers: dict) -> Reply:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return reply(body) if callable(reply) else reply

    def prompt(self, i: int = -1) -> str:
        """All message contents of request i, joined (what the model was shown)."""
        return "\n".join(str(m.get("content", "")) for m in self.requests[i].get("messages", []))

    def start(self) -> "ScriptedLLM":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(text: str, model: str) -> dict:
    return {
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def chunk(piece: str, model: str, first: bool = False, finish: str | None = None) -> dict:
    delta = {"content": piece} if piece or not finish else {}
    if first:
        delta["role"] = "assistant"
    return {
        "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


if __name__ == "__main__":
    server = ScriptedLLM(port=int(sys.argv[2]) if len(sys.argv) > 2 else 0).script(sys.argv[1] if len(sys.argv) > 1 else "")
    print(server.base_url, flush=True)
    server.httpd.serve_forever()
