"""A small OpenAI-compatible chat-completions server that fails on a script.

No raydistill import: it stands for a remote API. Each prompt (the last user
message's content) has its own script, a list of actions played one per request for that
prompt, then ``ok`` for ever after, so a run is deterministic however the client
interleaves its requests:

- ``ok``: 200 with ``n`` choices (or one, when ``honour_n`` is off);
- ``429`` / ``429:S``: rate limited, with ``Retry-After: S`` when S is given;
- ``500``, ``503``: server errors;
- ``empty``: 200 with an empty body (DeepSeek under load);
- ``malformed``: 200 with a JSON body cut short;
- ``slow``: sleep ``slow_s`` before answering (longer than the client's timeout);
- ``drip``: the answer a few bytes every 0.2 s, ``slow_s`` in all (each read is quick);
- ``drop``: close the connection without an answer;
- ``401``: a client error whose body echoes the request's Authorization header;
- ``length``: 200 with a trace cut inside its reasoning (``finish_reason=length``);
- ``loop``: a trace that repeats ``wait,`` until ``max_tokens`` (one event every
  ``loop_s`` when streamed; ``aborted`` is logged when the client hangs up early);
- ``ctx:C``: a context of C tokens: a request whose prompt (``len // 4`` tokens)
  plus ``max_tokens`` exceeds it is refused with vLLM's 400 message, else ``ok``.

A request with ``stream: true`` gets its answer as server-sent events, one per
word, and a final ``usage`` event. A request continuing the assistant's text
(``continue_final_message``) is answered with the rest only: ``42}.``.

Every request is logged (time, prompt, action, n, seed, Authorization) in ``log``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Script = Callable[[str], list[str]]


class FaultServer:
    """``with FaultServer(script) as server: server.url`` is the ``base_url``."""

    def __init__(self, script: Script | None = None, *, mode: str = "inline",
                 honour_n: bool = True, slow_s: float = 2.0, loop_s: float = 0.002) -> None:
        self.script = script or (lambda prompt: [])
        self.mode = mode  # inline (<think> in content) or reasoning_content / reasoning
        self.honour_n = honour_n
        self.slow_s = slow_s
        self.loop_s = loop_s
        self.log: list[dict[str, Any]] = []
        self.seen: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                # The user's prompt (a continuing request ends with the assistant's text).
                prompt = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
                with server.lock:
                    steps = server.script(prompt)
                    count = server.seen[prompt]
                    server.seen[prompt] += 1
                    action = steps[count] if count < len(steps) else "ok"
                    entry = {"t": time.monotonic(), "prompt": prompt, "action": action,
                             "n": body.get("n", 1), "seed": body.get("seed"), "body": body,
                             "auth": self.headers.get("Authorization")}
                    server.log.append(entry)
                try:
                    server.answer(self, action, body)
                except (BrokenPipeError, ConnectionResetError):
                    # the client gave up (timeout, or a loop aborted): what a real server sees
                    entry["aborted"] = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def completion(self, body: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
        """The JSON of a successful answer, in the server's mode."""
        n = body.get("n", 1) if self.honour_n else 1
        choices = []
        for i in range(n):
            thought, answer = f"thinking, sample {i}", "The answer is \\boxed{42}."
            if body.get("continue_final_message"):
                message = {"content": "42}."}
            elif finish == "loop":
                message = {"content": "<think>\nLet me see." + " wait," * body["max_tokens"]}
                finish = "length"
            elif finish == "length":
                message = ({"content": f"<think>\n{thought} and on"} if self.mode == "inline"
                           else {"content": None, self.mode: f"{thought} and on"})
            elif self.mode == "inline":
                message = {"content": f"<think>\n{thought}\n</think>\n\n{answer}"}
            else:
                message = {"content": answer, self.mode: thought}
            choices.append({"index": i, "finish_reason": finish,
                            "message": {"role": "assistant", **message}})
        prompt_tokens = len(body["messages"][-1]["content"]) // 4
        return {"id": "x", "object": "chat.completion", "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 10 * n,
                          "total_tokens": prompt_tokens + 10 * n}}

    def answer(self, handler: BaseHTTPRequestHandler, action: str, body: dict[str, Any]) -> None:
        """Send the response ``action`` calls for."""
        status, headers, payload = 200, {}, b""
        if action.startswith("ctx:"):
            room = int(action[4:]) - len(body["messages"][-1]["content"]) // 4
            if body["max_tokens"] > room:
                status = 400
                payload = json.dumps({"error": {"message": (
                    f"This model's maximum context length is {action[4:]} tokens. However, you "
                    f"requested {len(body['messages'][-1]['content']) // 4 + body['max_tokens']}"
                    f" tokens ({len(body['messages'][-1]['content']) // 4} in the messages, "
                    f"{body['max_tokens']} in the completion).")}}).encode()
            else:
                action = "ok"
        if body.get("stream") and status == 200 and action in ("ok", "length", "loop"):
            self.stream(handler, self.completion(body, "stop" if action == "ok" else action))
            return
        if action in ("ok", "slow", "length", "loop"):
            if action == "slow":
                time.sleep(self.slow_s)
            finish = action if action in ("length", "loop") else "stop"
            payload = json.dumps(self.completion(body, finish)).encode()
        elif action.startswith("429"):
            status = 429
            if ":" in action:
                headers["Retry-After"] = action.split(":", 1)[1]
            payload = b'{"error": {"message": "rate limited"}}'
        elif action in ("500", "503"):
            status, payload = int(action), b'{"error": {"message": "overloaded"}}'
        elif action == "malformed":
            payload = b'{"choices": [{"message": {"content": "<think>'
        elif action == "401":
            status = 401
            payload = json.dumps({"error": f"bad key {handler.headers.get('Authorization')}"}
                                 ).encode()
        elif action == "drip":
            payload = json.dumps(self.completion(body)).encode()
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            chunks = max(1, int(self.slow_s / 0.2))
            step = len(payload) // chunks + 1
            for i in range(0, len(payload), step):
                handler.wfile.write(payload[i:i + step])
                handler.wfile.flush()
                time.sleep(0.2)
            return
        elif action == "drop":
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(payload)

    def stream(self, handler: BaseHTTPRequestHandler, answer: dict[str, Any]) -> None:
        """Send ``answer`` as server-sent events: one word per event, then usage and [DONE]."""
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()

        def send(event: dict[str, Any] | str) -> None:
            data = event if isinstance(event, str) else json.dumps(event)
            handler.wfile.write(f"data: {data}\n\n".encode())
            handler.wfile.flush()

        for choice in answer["choices"]:
            words = (choice["message"].get("content") or "").split(" ")
            for k, word in enumerate(words):
                piece = word if k == 0 else " " + word
                send({"choices": [{"index": choice["index"], "delta": {"content": piece},
                                   "finish_reason": None}]})
                if self.loop_s and "wait," in word:
                    time.sleep(self.loop_s)
            send({"choices": [{"index": choice["index"], "delta": {},
                               "finish_reason": choice["finish_reason"]}]})
        send({"choices": [], "usage": answer["usage"]})
        send("[DONE]")

    def requests_for(self, prompt: str) -> list[dict[str, Any]]:
        """The logged requests for one prompt, in arrival order."""
        return [entry for entry in self.log if entry["prompt"] == prompt]

    def __enter__(self) -> FaultServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
