"""Version refusal and the launcher's errors."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.server import (
    OpenCodeServer,
    OpenCodeStartError,
    check_opencode_version,
    find_opencode,
    opencode_version,
)
from ensemble_tui.opencode.version import UnsupportedVersionError, check_supported_version
from ensemble_tui.opencode.version_cache import cache_path


@pytest.mark.parametrize("version", ["1.18.0", "1.18.33", "1.19.2", "1.30.0"])
def test_supported_versions(version: str) -> None:
    check_supported_version(version)


@pytest.mark.parametrize("version", ["2.0.1", "1.17.9", "0.15.0", "latest"])
def test_unsupported_versions_are_refused_naming_both_versions(version: str) -> None:
    with pytest.raises(UnsupportedVersionError) as refused:
        check_supported_version(version)
    message = str(refused.value)
    assert version in message
    assert "1.18" in message
    assert "npm install -g opencode-ai@1.18.33" in message


async def test_connect_refuses_a_2x_server() -> None:
    """An OpenCode 2.x server cannot be installed here next to the pinned 1.18.33, so a
    transport answering /global/health as 2.x stands in for one."""

    def health(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/global/health"
        return httpx.Response(200, json={"healthy": True, "version": "2.0.1"})

    async with OpenCodeClient("http://opencode.test", transport=httpx.MockTransport(health)) as c:
        with pytest.raises(UnsupportedVersionError, match=r"OpenCode 2\.0\.1 is not supported"):
            await c.connect()


def test_a_missing_opencode_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ENSEMBLE_OPENCODE_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OpenCodeStartError, match=r"npm install -g opencode-ai@1\.18\.33"):
        find_opencode()
    with pytest.raises(OpenCodeStartError, match="not an executable"):
        find_opencode(str(tmp_path / "nope"))


async def test_a_server_that_dies_at_start_is_reported_with_its_last_output(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "opencode"
    broken.write_text("#!/bin/sh\necho 'Error: config is invalid at line 3' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    server = OpenCodeServer(tmp_path, log_path=tmp_path / "oc.log", binary=str(broken))
    with pytest.raises(OpenCodeStartError) as failed:
        await server.start()
    assert "exited with status 3" in str(failed.value)
    assert "config is invalid at line 3" in str(failed.value)
    assert server.process is None


async def test_a_server_that_never_answers_times_out_and_is_stopped(tmp_path: Path) -> None:
    sleeper = tmp_path / "opencode"
    sleeper.write_text("#!/bin/sh\necho starting\nexec sleep 60\n")
    sleeper.chmod(sleeper.stat().st_mode | stat.S_IXUSR)
    server = OpenCodeServer(
        tmp_path, log_path=tmp_path / "oc.log", binary=str(sleeper), startup_timeout=0.5
    )
    with pytest.raises(OpenCodeStartError, match="did not answer within"):
        await server.start()
    assert server.process is None


def test_the_provider_config_is_valid_json(tmp_path: Path) -> None:
    from ensemble_tui.demo.provider import write_scripted_provider_config

    path = write_scripted_provider_config(tmp_path / "cfg", "http://127.0.0.1:1/v1")
    config = json.loads(path.read_text())
    assert config["model"] == "scripted/script"
    assert config["provider"]["scripted"]["options"]["baseURL"] == "http://127.0.0.1:1/v1"


def test_a_relative_binary_is_made_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tool = tmp_path / "bin" / "opencode"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    assert find_opencode("bin/opencode") == str(tool)


CHILD_STARTING_A_SERVER = """
import asyncio
from pathlib import Path
from ensemble_tui.opencode.server import OpenCodeServer

async def main():
    folder = Path({folder!r})
    server = OpenCodeServer(folder, log_path=folder / "oc.log", binary={binary!r})
    await server.start()
    print(server.process.pid, flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def test_the_server_dies_with_its_parent_even_on_kill_9(tmp_path: Path, opencode_bin: str) -> None:
    """A process that started `opencode serve` is killed with SIGKILL: the server follows."""
    code = CHILD_STARTING_A_SERVER.format(folder=str(tmp_path), binary=opencode_bin)
    env = dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    os.kill(server_pid, 0)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(server_pid, signal.SIGKILL)
    raise AssertionError("opencode serve outlived the process that started it")


def stand_in(folder: Path, script: str) -> str:
    """An executable shell script standing in for `opencode`."""
    path = folder / "opencode"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


async def test_the_awaited_version_check_agrees_with_the_blocking_one(
    opencode_bin: str, tmp_path: Path
) -> None:
    assert await opencode_version(opencode_bin) == check_opencode_version(opencode_bin)
    failing = stand_in(tmp_path, "echo 'no such thing' >&2; exit 3")
    with pytest.raises(OpenCodeStartError, match=r"failed \(status 3\): no such thing"):
        await opencode_version(failing)
    with pytest.raises(OpenCodeStartError, match=r"failed \(status 3\): no such thing"):
        check_opencode_version(failing)
    old = stand_in(tmp_path, "echo 1.17.9")
    with pytest.raises(UnsupportedVersionError):
        await opencode_version(old)


async def test_a_version_check_cancelled_stops_its_child_at_once(tmp_path: Path) -> None:
    """The screen closed while `opencode --version` still ran (it takes a second or more):
    the child is stopped, not waited for. OpenCode cannot be made to hang on purpose, so a
    script that never answers stands in for it."""
    started = tmp_path / "started"
    os.mkfifo(started)
    binary = stand_in(tmp_path, f"echo $$ > {started}; exec sleep 600")
    check = asyncio.create_task(opencode_version(binary))
    pid = int(await asyncio.to_thread(started.read_text))  # once the child runs
    check.cancel()
    with pytest.raises(asyncio.CancelledError):
        await check
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# The remembered answers of `opencode --version`. These tests are about *not* running the
# binary, which only a stand-in can count: each stand-in script notes every run in a file.


@pytest.fixture
def version_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's own cache folder; returns the file the answers are kept in."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return cache_path()


def counting(folder: Path, answer: str) -> tuple[str, Path]:
    """A stand-in answering *answer* (a shell command) that counts its runs."""
    folder.mkdir(parents=True, exist_ok=True)
    runs = folder / "runs"
    return stand_in(folder, f"echo run >> {runs}\n{answer}"), runs


def run_count(runs: Path) -> int:
    return len(runs.read_text().splitlines()) if runs.exists() else 0


def kept_versions(cache: Path) -> dict[str, str]:
    """The versions the cache file keeps, by the binaries' given paths; {} without one."""
    if not cache.exists():
        return {}
    entries = json.loads(cache.read_text())["binaries"]
    return {path: entry["version"] for path, entry in entries.items()}


async def test_a_second_check_of_the_same_binary_does_not_run_it(
    version_cache: Path, tmp_path: Path
) -> None:
    binary, runs = counting(tmp_path / "a", "echo 1.18.33")
    assert check_opencode_version(binary) == "1.18.33"
    assert check_opencode_version(binary) == "1.18.33"
    assert await opencode_version(binary) == "1.18.33"
    assert run_count(runs) == 1
    # The awaited check keeps what it learnt for the blocking one, too.
    other, other_runs = counting(tmp_path / "b", "echo 1.19.2")
    assert await opencode_version(other) == "1.19.2"
    assert check_opencode_version(other) == "1.19.2"
    assert run_count(other_runs) == 1
    assert kept_versions(version_cache) == {binary: "1.18.33", other: "1.19.2"}


def test_a_binary_changed_since_is_asked_again(version_cache: Path, tmp_path: Path) -> None:
    binary, runs = counting(tmp_path, "echo 1.18.33")
    assert check_opencode_version(binary) == "1.18.33"
    # An upgrade: the same path, another file (another size).
    binary, runs = counting(tmp_path, "echo 1.19.0 # upgraded")
    assert check_opencode_version(binary) == "1.19.0"
    assert run_count(runs) == 2
    # Only its time changed (a reinstall of the same size): asked again as well.
    stamp = os.stat(binary)
    os.utime(binary, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000))
    assert check_opencode_version(binary) == "1.19.0"
    assert check_opencode_version(binary) == "1.19.0"
    assert run_count(runs) == 3


async def test_an_unsupported_or_failing_binary_is_asked_every_time(
    version_cache: Path, tmp_path: Path
) -> None:
    old, old_runs = counting(tmp_path / "old", "echo 1.17.9")
    failing, failing_runs = counting(tmp_path / "failing", "echo broken >&2; exit 3")
    for _ in range(2):
        with pytest.raises(UnsupportedVersionError):
            check_opencode_version(old)
        with pytest.raises(UnsupportedVersionError):
            await opencode_version(old)
        with pytest.raises(OpenCodeStartError, match="status 3"):
            check_opencode_version(failing)
    assert (run_count(old_runs), run_count(failing_runs)) == (4, 2)
    assert kept_versions(version_cache) == {}


def test_a_kept_version_this_release_no_longer_supports_is_refused(
    version_cache: Path, tmp_path: Path
) -> None:
    binary, _ = counting(tmp_path, "echo 1.18.33")
    check_opencode_version(binary)
    saved = json.loads(version_cache.read_text())
    saved["binaries"][os.path.realpath(binary)]["version"] = "1.17.9"
    version_cache.write_text(json.dumps(saved))
    with pytest.raises(UnsupportedVersionError, match=r"1\.17\.9"):
        check_opencode_version(binary)


@pytest.mark.parametrize(
    "content",
    [
        b"not json {",
        b"\xff\xfe\x00garbage",
        b"[1, 2]",
        b'{"format": 1, "binaries": []}',
        b'{"format": 1, "binaries": {"/x": "y"}}',
        b'{"format": 99, "binaries": {}}',
    ],
)
def test_a_corrupt_cache_file_is_ignored_and_replaced(
    version_cache: Path, tmp_path: Path, content: bytes
) -> None:
    binary, runs = counting(tmp_path, "echo 1.18.33")
    version_cache.parent.mkdir(parents=True)
    version_cache.write_bytes(content)
    assert check_opencode_version(binary) == "1.18.33"
    assert run_count(runs) == 1
    assert kept_versions(version_cache) == {binary: "1.18.33"}
    assert check_opencode_version(binary) == "1.18.33"
    assert run_count(runs) == 1


def test_a_cache_that_cannot_be_written_is_only_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    binary, runs = counting(tmp_path / "bin", "echo 1.18.33")
    with caplog.at_level("INFO"):
        assert check_opencode_version(binary) == "1.18.33"
        assert check_opencode_version(binary) == "1.18.33"
    assert run_count(runs) == 2
    assert "could not remember the OpenCode version" in caplog.text
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".versions-")] == []


# Stands in for `opencode serve`: takes the first connection and never answers it (as
# OpenCode does with one taken while it starts), answers the next ones with 401, and
# writes down whether the silent connection was still open then.
SILENT_FIRST = """
import socket, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
listener = socket.create_server(("127.0.0.1", port))
print(f"listening on http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
silent, _ = listener.accept()
silent.recv(65536)
while True:
    answered, _ = listener.accept()
    answered.recv(65536)
    silent.setblocking(False)
    try:
        open_still = silent.recv(65536, socket.MSG_PEEK) != b""
    except BlockingIOError:
        open_still = True
    with open(sys.argv[-1], "w") as note:
        note.write("open" if open_still else "closed")
    answered.sendall(b"HTTP/1.1 401 Unauthorized\\r\\nContent-Length: 0\\r\\n\\r\\n")
    answered.close()
"""


async def test_a_start_does_not_wait_on_a_connection_the_server_never_answers(
    tmp_path: Path,
) -> None:
    """OpenCode 1.18.33, restarted on its port, takes connections before it can answer and
    never answers one taken then: the start waited 2 s on it before trying again."""
    note = tmp_path / "silent-connection"
    script = tmp_path / "fake_serve.py"
    script.write_text(SILENT_FIRST)
    fake = stand_in(tmp_path, f'exec {sys.executable} {script} "$@" {note}')
    server = OpenCodeServer(tmp_path, log_path=tmp_path / "oc.log", binary=fake)
    await server.start()
    try:
        assert note.read_text() == "open", "answered by a later try while the first waited"
    finally:
        await server.stop()
