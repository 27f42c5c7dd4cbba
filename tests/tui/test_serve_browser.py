"""`ensemble-tui serve`: the screen in a real headless Chromium, and the checks in front.

The browser test runs the real command against the real `opencode serve` (scripted
model), opens the page in Chromium through `scripts/browser_screenshot.py`, waits for
the team list in what the page receives, presses ctrl+p and waits for the palette, and
saves a PNG. It is skipped, saying why, where Chromium is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ensemble_tui.opencode.server import OpenCodeServer
from ensemble_tui.serve import ServeRefused, is_loopback, plan_serving
from scripts.browser_screenshot import capture, find_chromium, serving

TOKEN = "a-token-long-enough-for-this"
# `make test` installs Chromium beside the set-up and the suite, since only this test needs
# it (Debian's package takes longer than the rest of the set-up on a new machine), and names
# a file that appears once the install has ended, whether or not it worked.
CHROMIUM_DONE = "TEST_CHROMIUM_DONE"
CHROMIUM_WAIT = 600.0


def installed_chromium() -> str | None:
    """The Chromium on PATH, once an install `make test` runs beside the suite has ended."""
    done = os.environ.get(CHROMIUM_DONE)
    if done:
        deadline = time.monotonic() + CHROMIUM_WAIT
        while not Path(done).exists() and time.monotonic() < deadline:
            time.sleep(0.5)
    return find_chromium()


def serve_args(**given: object) -> argparse.Namespace:
    defaults: dict[str, object] = {
        "path": Path("."),
        "url": None,
        "password": None,
        "set": None,
        "session": None,
        "team": None,
        "host": "127.0.0.1",
        "port": None,
        "token": None,
        "demo": False,
    }
    return argparse.Namespace(**(defaults | given))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "a PNG file"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.timeout(CHROMIUM_WAIT + 300)
async def test_the_screen_opens_in_a_real_browser_and_takes_keys(
    tmp_path: Path, git_repo: Path, opencode_server: OpenCodeServer, opencode_env: dict[str, str]
) -> None:
    if await asyncio.to_thread(installed_chromium) is None:
        pytest.skip("no chromium on PATH: `apt-get install -y chromium` (make test does)")
    shot = tmp_path / "browser.png"
    # The password reaches the browser's app through serve's environment. Given with `=`:
    # a random one that starts with "-" (1 in 64) is otherwise read as an option.
    argv = [str(git_repo), "--url", opencode_server.url, f"--password={opencode_server.password}"]
    with serving(argv, env=opencode_env) as (_, url):
        assert url.startswith("http://127.0.0.1:"), "loopback unless told otherwise"
        seen = await capture(
            url,
            shot,
            expect=["Team", "▶ lead", "● connected", "last 2m", "Timeline"],
            keys=["ctrl+p"],
            then=["Search for commands", "Show or hide the timeline"],
        )
    assert "no team yet" in seen
    assert png_size(shot) == (1280, 800)


def test_beyond_loopback_a_token_is_required_and_checked_before_anything_listens() -> None:
    with pytest.raises(ServeRefused, match="--token"):
        plan_serving(serve_args(host="0.0.0.0"), {})
    with pytest.raises(ServeRefused, match="too short"):
        plan_serving(serve_args(host="0.0.0.0", token="short"), {})
    plan = plan_serving(serve_args(host="0.0.0.0", port=8123), {"ENSEMBLE_SERVE_TOKEN": TOKEN})
    assert plan.url == f"http://0.0.0.0:8123/?token={TOKEN}"
    assert "--password" not in plan.command, "the password goes in the environment"
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("192.168.1.20")


def test_a_refusal_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ensemble_tui", "serve", "--host", "0.0.0.0", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "give a token with --token" in done.stderr


def test_the_page_answers_only_its_own_host_origin_and_token(
    git_repo: Path, opencode_env: dict[str, str]
) -> None:
    argv = [str(git_repo), "--url", "http://127.0.0.1:9", "--token", TOKEN]
    with serving(argv, env=opencode_env) as (_, url):
        base = url.split("/?")[0]
        assert httpx.get(base + "/").status_code == 401, "no token, no page"
        assert httpx.get(base + "/?token=wrong-token-of-some-length").status_code == 401
        page = httpx.get(url)
        assert page.status_code == 200
        assert "ensemble_serve_token" in page.headers["set-cookie"]
        assert "SameSite=Strict" in page.headers["set-cookie"]
        with httpx.Client(cookies=page.cookies) as browser:
            assert browser.get(base + "/static/js/textual.js").status_code == 200
            other_site = {"Origin": "http://evil.example"}
            assert browser.get(base + "/ws", headers=other_site).status_code == 403
    with serving([str(git_repo), "--url", "http://127.0.0.1:9"], env=opencode_env) as (_, url):
        assert httpx.get(url).status_code == 200, "loopback needs no token"
        rebound = httpx.get(url, headers={"Host": "attacker.example"})
        assert rebound.status_code == 403, "a DNS-rebound name is refused"


# Run in a child: `serve` with aiohttp's sites slow to listen (as on a busy machine).
SLOW_TO_LISTEN = """
import asyncio, sys
from aiohttp import web
from ensemble_tui.serve import make_server, ServePlan
start = web.TCPSite.start
async def slow_start(self):
    await asyncio.sleep(1.0)
    await start(self)
web.TCPSite.start = slow_start
make_server(ServePlan("true", "127.0.0.1", int(sys.argv[1]), None), "t").serve()
"""


def test_the_url_is_printed_once_the_server_listens(tmp_path: Path) -> None:
    """The URL was printed from textual-serve's start-up hook, before aiohttp opened the
    socket: on a busy machine a script that followed it at once was refused (seen in CI).
    Here the socket opens a second late; the URL must still lead somewhere."""
    from ensemble_tui.serve import free_port

    port = free_port("127.0.0.1")
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_TO_LISTEN, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if "in a browser" in line:
                break
        else:
            raise AssertionError("serve printed no URL")
        assert f"http://127.0.0.1:{port}/" in line
        # At once, as a script would: the server listens by now.
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
