"""A scripted, OpenAI-compatible chat-completions server that drives the real OpenCode.

OpenCode talks to it as to any `@ai-sdk/openai-compatible` provider; instead of a
language model it plays the script written into the conversation (the format is in
`ensemble_tui.demo.script`), so tests, the demo and the benchmarks run the real
OpenCode deterministically and with no API key. A request with no tools (OpenCode's
title generation) gets a short title. Both streaming and plain JSON answers are served.

Run standalone with ``python -m ensemble_tui.demo.scripted_model --port 4198``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ensemble_tui.demo.script import choose_step, message_text

PROVIDER_ID = "scripted"
MODEL_ID = "script"
TITLE_TEXT = "Scripted session"
# How much of a request's first and last user message (and last tool result) the record keeps.
RECORDED_CHARS = 400
# How long a step with `hold` waits to be released before it is answered with an error.
HOLD_LIMIT = 300.0


def _tool_calls(step: dict[str, Any]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    if "tool" in step:
        calls.append({"tool": step["tool"], "args": step.get("args", {})})
    calls.extend(step.get("tools", []))
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:12]}",
            "type": "function",
            "function": {"name": call["tool"], "arguments": json.dumps(call.get("args", {}))},
        }
        for call in calls
    ]


def _chunks(text: str, size: int = 24) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class _Completion:
    """One model response, renderable as a JSON body or as a stream of SSE chunks."""

    def __init__(self, step: dict[str, Any], prompt_chars: int) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex[:16]}"
        self.created = int(time.time())
        self.text = str(step.get("text", ""))
        self.reasoning = str(step.get("reasoning", ""))
        self.calls = _tool_calls(step)
        self.chunk_delay = float(step.get("chunk_delay", 0))
        self.finish = "tool_calls" if self.calls else "stop"
        completion_chars = len(self.text) + len(self.reasoning)
        completion_chars += sum(len(c["function"]["arguments"]) for c in self.calls)
        self.usage = {
            "prompt_tokens": max(1, prompt_chars // 4),
            "completion_tokens": max(1, completion_chars // 4),
        }
        self.usage["total_tokens"] = self.usage["prompt_tokens"] + self.usage["completion_tokens"]

    def body(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.reasoning:
            message["reasoning_content"] = self.reasoning
        if self.calls:
            message["tool_calls"] = self.calls
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": MODEL_ID,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish}],
            "usage": self.usage,
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": MODEL_ID,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def stream(self) -> Iterator[dict[str, Any]]:
        yield self._chunk({"role": "assistant", "content": ""})
        for piece in _chunks(self.reasoning) if self.reasoning else []:
            yield self._chunk({"reasoning_content": piece})
        for piece in _chunks(self.text) if self.text else []:
            yield self._chunk({"content": piece})
        for index, call in enumerate(self.calls):
            head = {"index": index, "id": call["id"], "type": "function"}
            head["function"] = {"name": call["function"]["name"], "arguments": ""}
            yield self._chunk({"tool_calls": [head]})
            for piece in _chunks(call["function"]["arguments"], 64):
                args = {"index": index, "function": {"arguments": piece}}
                yield self._chunk({"tool_calls": [args]})
        yield self._chunk({}, self.finish)
        yield {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": MODEL_ID,
            "choices": [],
            "usage": self.usage,
        }


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedModelHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the default stderr access log quiet; requests go to the server's log."""

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": [{"id": MODEL_ID}]})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._send_json(400, {"error": {"message": "request body is not JSON"}})
            return
        messages = request.get("messages") or []
        if not request.get("tools"):
            step: dict[str, Any] = {"text": TITLE_TEXT}
        else:
            step = choose_step(messages)
        self.server.record(request, step)
        if "hold" in step and not self.server.hold(str(step["hold"])).wait(HOLD_LIMIT):
            message = f"scripted hold {step['hold']!r} was never released"
            self._send_json(400, {"error": {"message": message}})
            return
        time.sleep(float(step.get("delay", 0)))
        if "fail" in step:
            self._send_json(int(step["fail"]), {"error": {"message": "scripted failure"}})
            return
        completion = _Completion(step, len(json.dumps(messages)))
        if request.get("stream"):
            self._send_stream(completion)
        else:
            self._send_json(200, completion.body())

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, completion: _Completion) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for chunk in completion.stream():
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            if completion.chunk_delay:
                time.sleep(completion.chunk_delay)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class ScriptedModelHTTPServer(ThreadingHTTPServer):
    """The HTTP server; keeps a record of the requests it answered."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], log_path: Path | None = None) -> None:
        super().__init__(address, _Handler)
        self.requests: list[dict[str, Any]] = []
        self._log_path = log_path
        self._lock = threading.Lock()
        self._holds: dict[str, threading.Event] = {}

    def hold(self, name: str) -> threading.Event:
        """The event that releases the steps held under *name*."""
        with self._lock:
            return self._holds.setdefault(name, threading.Event())

    def record(self, request: dict[str, Any], step: dict[str, Any]) -> None:
        entry: dict[str, Any] = {"time": time.time(), "step": step}
        messages = request.get("messages") or []
        entry["messages"] = len(messages)
        # The ends of the conversation, so tests can tell what a request carried.
        users = [message_text(m) for m in messages if m.get("role") == "user"]
        entry["first_user"] = users[0][:RECORDED_CHARS] if users else ""
        entry["last_user"] = users[-1][:RECORDED_CHARS] if users else ""
        # What the step answers: the result of the tool the model called last (a refusal,
        # an error of OpenCode's MCP client, ...), as the log's only record of it once the
        # session is deleted.
        last = messages[-1] if messages else {}
        entry["last_tool"] = (
            message_text(last)[:RECORDED_CHARS] if last.get("role") == "tool" else ""
        )
        with self._lock:
            self.requests.append(entry)
            if self._log_path is not None:
                with self._log_path.open("a") as log:
                    log.write(json.dumps(entry) + "\n")


class ScriptedModel:
    """The scripted model server running on a background thread, on 127.0.0.1."""

    def __init__(self, port: int = 0, log_path: Path | None = None) -> None:
        self._server = ScriptedModelHTTPServer(("127.0.0.1", port), log_path)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="scripted-model", daemon=True
        )
        self._holds_made = 0

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL to give OpenCode's provider config."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every completion request answered so far, with the step that was played."""
        return list(self._server.requests)

    def new_hold(self, label: str) -> str:
        """A hold name (for a step's `hold`) that no other script of this model uses."""
        self._holds_made += 1
        return f"{label}-{self._holds_made}"

    def release(self, name: str) -> None:
        """Let the steps held under *name* be answered, now and from now on."""
        self._server.hold(name).set()

    def start(self) -> ScriptedModel:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve the scripted model until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=4198, help="port on 127.0.0.1")
    parser.add_argument("--log", type=Path, default=None, help="append each request here")
    args = parser.parse_args(argv)
    model = ScriptedModel(args.port, args.log)
    print(f"scripted model listening on {model.base_url}", flush=True)
    try:
        model._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        model._server.server_close()


if __name__ == "__main__":
    main()
