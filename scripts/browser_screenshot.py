"""Open `ensemble-tui serve` in headless Chromium, press keys, and save a PNG.

Used by the browser test (tests/tui/test_serve_browser.py) and by `make screenshots`.
Chromium is driven over the DevTools protocol through aiohttp's websocket client
(aiohttp comes with textual-serve). The terminal in the page is drawn on a canvas, so
what the app shows is read from the websocket frames the page receives: the app's own
output, with its escape sequences taken out.

    python scripts/browser_screenshot.py [--demo] [--key ?] OUT.png   # serve, then shoot
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
ESCAPES = re.compile(
    r"\x1b(\[[0-9;?<=>]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|.)"
)
URL_LINE = re.compile(r"open (http://\S+) in a browser")
# Keys with a name, as DevTools wants them; any other key is typed as its character.
NAMED_KEYS = {
    "escape": {"key": "Escape", "code": "Escape", "windowsVirtualKeyCode": 27},
    "enter": {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"},
    "tab": {"key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9},
    "ctrl+p": {"key": "p", "code": "KeyP", "windowsVirtualKeyCode": 80, "modifiers": 2},
}


def find_chromium() -> str | None:
    """The headless-capable Chromium on PATH, if any."""
    for name in CHROMIUMS:
        if found := shutil.which(name):
            return found
    return None


def visible_text(data: bytes) -> str:
    """Terminal output without its escape sequences."""
    return ESCAPES.sub("", data.decode("utf-8", "replace"))


class DevTools:
    """One DevTools websocket: commands with ids, and the events in between."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.frames = bytearray()
        self.frame_arrived = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.socket:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self.pending:
                self.pending.pop(data["id"]).set_result(data)
            elif data.get("method") == "Network.webSocketFrameReceived":
                response = data["params"]["response"]
                payload = response["payloadData"]
                raw = base64.b64decode(payload) if response["opcode"] == 2 else payload.encode()
                self.frames += raw
                self.frame_arrived.set()

    async def send(self, method: str, session: str | None = None, **params: Any) -> Any:
        """Run one command and return its result (raising on a DevTools error)."""
        ident = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[ident] = future
        command: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session is not None:
            command["sessionId"] = session
        await self.socket.send_str(json.dumps(command))
        answer = await future
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    async def shown(self, texts: Sequence[str], since: int = 0, limit: float = 120) -> None:
        """Wait until every one of *texts* has arrived in the page (after byte *since*);
        after *limit* seconds, fail with the end of what the page was sent."""
        try:
            async with asyncio.timeout(limit):
                while not all(text in visible_text(bytes(self.frames[since:])) for text in texts):
                    self.frame_arrived.clear()
                    await self.frame_arrived.wait()
        except TimeoutError:
            seen = visible_text(bytes(self.frames[since:]))
            missing = [text for text in texts if text not in seen]
            ending = seen[-600:]
            raise RuntimeError(f"the page never showed {missing}; it ended: {ending!r}") from None


@contextlib.asynccontextmanager
async def chromium(size: tuple[int, int] = (1280, 800)) -> AsyncIterator[DevTools]:
    """A headless Chromium with a throwaway profile, and its DevTools connection."""
    binary = find_chromium()
    if binary is None:
        raise RuntimeError("no chromium on PATH (Debian: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="ensemble-chromium-") as profile:
        process = await asyncio.create_subprocess_exec(
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            f"--window-size={size[0]},{size[1]}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stderr is not None
        try:
            url = ""
            while not url:
                line = (await process.stderr.readline()).decode()
                if not line:
                    raise RuntimeError("chromium exited before its DevTools were listening")
                if line.startswith("DevTools listening on "):
                    url = line.split(" on ", 1)[1].strip()
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(url, max_msg_size=0) as socket,
            ):
                tools = DevTools(socket)
                yield tools
                tools.reader.cancel()
        finally:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def capture(
    url: str,
    out: Path,
    *,
    expect: Sequence[str],
    keys: Sequence[str] = (),
    then: Sequence[str] = (),
    size: tuple[int, int] = (1280, 800),
) -> str:
    """Open *url*, wait for *expect* on the screen, press *keys* (one of `NAMED_KEYS` or
    a character; an escape and the next key would read as alt+key), wait for *then*,
    and save a PNG of the page to *out*; returns the text the page was sent."""
    async with chromium(size) as tools:
        target = await tools.send("Target.createTarget", url="about:blank")
        attached = await tools.send(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        session = attached["sessionId"]
        await tools.send("Network.enable", session)
        # The page asks Google for a font; offline that must not hold the page up.
        await tools.send("Network.setBlockedURLs", session, urls=["*fonts.googleapis.com*"])
        await tools.send("Page.enable", session)
        await tools.send(
            "Emulation.setDeviceMetricsOverride",
            session,
            width=size[0],
            height=size[1],
            deviceScaleFactor=1,
            mobile=False,
        )
        await tools.send("Page.navigate", session, url=url)
        await tools.shown(expect)
        since = len(tools.frames)
        if keys:
            focus = "document.querySelector('.xterm-helper-textarea').focus()"
            await tools.send("Runtime.evaluate", session, expression=focus)
            for key in keys:
                event = NAMED_KEYS.get(key, {"key": key, "text": key})
                await tools.send("Input.dispatchKeyEvent", session, type="keyDown", **event)
                await tools.send("Input.dispatchKeyEvent", session, type="keyUp", key=event["key"])
        # A text drawn again after that point: what a key did, or a toast gone from over it.
        await tools.shown(then, since)
        # Let the terminal draw the last frame it was sent before the picture is taken.
        await tools.send(
            "Runtime.evaluate",
            session,
            expression="new Promise(r => requestAnimationFrame(() => setTimeout(r, 300)))",
            awaitPromise=True,
        )
        shot = await tools.send("Page.captureScreenshot", session, format="png")
        await asyncio.to_thread(save, out, base64.b64decode(shot["data"]))
        return visible_text(bytes(tools.frames))


def save(out: Path, data: bytes) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)


@contextlib.contextmanager
def serving(argv: Sequence[str], env: dict[str, str] | None = None) -> Any:
    """Run `ensemble-tui serve ...` and yield (its process, the URL it printed)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ensemble_tui", "serve", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    try:
        printed = []
        for line in process.stdout:
            printed.append(line)
            if found := URL_LINE.search(line):
                yield process, found.group(1)
                break
        else:
            raise RuntimeError("serve exited without a URL:\n" + "".join(printed))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--demo", action="store_true", help="serve the demo (a scripted team)")
    parser.add_argument("--path", default=".", help="the repository to serve (default: .)")
    parser.add_argument("--expect", action="append", default=None, help="text to wait for")
    parser.add_argument(
        "--key", action="append", default=[], help="a key to press once it is shown (repeatable)"
    )
    parser.add_argument(
        "--then",
        action="append",
        default=[],
        help="text to wait for after that (drawn again: what the key did, or a toast gone)",
    )
    args = parser.parse_args()
    argv = ["--demo"] if args.demo else [args.path]
    expect = args.expect or ["Team", "lead"]
    with serving(argv) as (_, url):
        asyncio.run(capture(url, args.out, expect=expect, keys=args.key, then=args.then))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
