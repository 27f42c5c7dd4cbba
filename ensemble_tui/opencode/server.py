"""Starting and stopping `opencode serve` for a directory.

The server's output goes to a log file; a failed start quotes its last lines. The
process gets its own session (process group) so that a Ctrl-C in the terminal reaches
us first and we stop it in order: terminate, then kill after a grace period.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from ensemble_tui.errors import EnsembleError
from ensemble_tui.opencode.version import INSTALL_COMMAND, check_supported_version
from ensemble_tui.opencode.version_cache import cached_version, remember_version
from ensemble_tui.paths import private_dir, private_file

BIN_VARIABLE = "ENSEMBLE_OPENCODE_BIN"
PASSWORD_VARIABLE = "OPENCODE_SERVER_PASSWORD"
ALLOCATOR_VARIABLE = "Malloc"
"""Set to 1 (unless already set), it has OpenCode's runtime (Bun's WebKit allocator,
bmalloc) allocate through its system heap. Its own heap marks freed pages apart from
used ones (`madvise` MADV_DONTDUMP), splitting its memory into small mappings: ten
teammates' instances made 27,000 of them (296 with this set), and near fifty the process
reached Linux's limit (`vm.max_map_count`, 65,530), where the allocator retries the
refused `madvise` forever, so OpenCode stopped answering with its CPU busy."""
DATABASE_VARIABLE = "OPENCODE_DB"
"""The SQLite database OpenCode keeps its sessions in (default: in its data folder)."""
CONFIG_CONTENT_VARIABLE = "OPENCODE_CONFIG_CONTENT"
"""OpenCode configuration given inline; it overrides the user's and the project's files."""
_PR_SET_PDEATHSIG = 1


def _parent_death_signal() -> Callable[[], None] | None:
    """On Linux, a pre-exec hook that has the server killed when we die (even by
    `kill -9`), so no agents go on working without a coordinator; None elsewhere.

    SIGKILL, not SIGTERM: OpenCode stops gracefully on SIGTERM and lets running turns
    go on meanwhile; its SQLite database is safe against a kill."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # Here: the screen imports this module before its first frame.

    try:
        # Looked up here, not in the child: the hook must do nothing but one syscall.
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def die_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return die_with_parent


class OpenCodeStartError(EnsembleError):
    """`opencode serve` could not be found or did not come up."""


def find_opencode(explicit: str | None = None) -> str:
    """Return the `opencode` to run: *explicit*, `$ENSEMBLE_OPENCODE_BIN`, or PATH."""
    for candidate, origin in (
        (explicit, "the setting"),
        (os.environ.get(BIN_VARIABLE), BIN_VARIABLE),
    ):
        if candidate:
            found = shutil.which(candidate)
            if found is None:
                raise OpenCodeStartError(
                    f"{origin} names {candidate!r}, which is not an executable file."
                )
            # Absolute: the server runs in another directory than ours.
            return os.path.abspath(found)
    found = shutil.which("opencode")
    if found is None:
        raise OpenCodeStartError(
            "OpenCode is not installed: no `opencode` on PATH. Install it with: "
            f"{INSTALL_COMMAND} (or set {BIN_VARIABLE} to its path)."
        )
    return os.path.abspath(found)


def _remembered_version(binary: str) -> str | None:
    """The version kept for this very binary file, checked again (the supported range may
    have changed since it was kept); None when none is kept."""
    known = cached_version(binary)
    if known is not None:
        check_supported_version(known)
    return known


def check_opencode_version(binary: str) -> str:
    """Run `opencode --version`; return the version, or refuse an unsupported one.

    A supported answer is remembered for this very binary file (see `version_cache`), so
    later starts skip the two seconds it takes; the server's own version is checked
    again when a client connects."""
    known = _remembered_version(binary)
    if known is not None:
        return known
    try:
        done = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise OpenCodeStartError(f"{binary} --version failed: {error}") from None
    return _checked_version(binary, done.returncode, done.stdout, done.stderr)


async def opencode_version(binary: str) -> str:
    """`check_opencode_version` as a child the event loop waits on: cancelled (the screen
    was closed while OpenCode still answered, a second or more), it stops the child at
    once instead of holding the exit until the child is done. It shares the blocking
    one's remembered answers."""
    known = _remembered_version(binary)
    if known is not None:
        return known
    try:
        child = await asyncio.create_subprocess_exec(
            binary, "--version", stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as error:
        raise OpenCodeStartError(f"{binary} --version failed: {error}") from None
    try:
        out, err = await asyncio.wait_for(child.communicate(), 30)
    except BaseException as error:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await asyncio.shield(child.wait())
        if isinstance(error, TimeoutError):
            raise OpenCodeStartError(f"{binary} --version failed: no answer in 30 s") from None
        raise
    returncode = child.returncode if child.returncode is not None else -1
    return _checked_version(
        binary, returncode, out.decode(errors="replace"), err.decode(errors="replace")
    )


def _checked_version(binary: str, returncode: int, stdout: str, stderr: str) -> str:
    """The version `opencode --version` printed, or a refusal: it failed or is unsupported."""
    version = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    if returncode != 0 or not version:
        raise OpenCodeStartError(
            f"{binary} --version failed (status {returncode}): {stderr.strip()[:300]}"
        )
    check_supported_version(version)
    remember_version(binary, version)
    return version


# What `opencode serve` prints once it listens, e.g. "opencode server listening on
# http://127.0.0.1:4096". With `--port 0` it takes 4096 if that is free, else a port the OS
# picks: this line is the only place that says which.
_LISTENING = re.compile(rb"listening on http://[^\s/]+:(\d+)")


def snapshots_off(env: dict[str, str]) -> None:
    """Add `"snapshot": false` to the inline OpenCode configuration in *env*, keeping what
    the user put there.

    At every step of every turn OpenCode adds the session's whole folder to a git
    repository of its own (its undo, its reverts and per-turn diffs), and it sets one up
    for each new folder: about half of the CPU time of a step, and a fifth of starting
    up for a teammate's new worktree. With them off, `/undo` and reverting a message in
    OpenCode no longer restore files (the teammates' branches still hold every commit).
    """
    text = env.get(CONFIG_CONTENT_VARIABLE, "").strip()
    try:
        document = json.loads(text) if text else {}
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise OpenCodeStartError(
            f"{CONFIG_CONTENT_VARIABLE} is set but is not a JSON object, so ensemble-tui "
            "cannot turn OpenCode's snapshots off in it (opencode_snapshots = false): "
            "fix or unset it."
        )
    document["snapshot"] = False
    env[CONFIG_CONTENT_VARIABLE] = json.dumps(document)


def tail(path: Path, lines: int = 15) -> str:
    """The last *lines* lines of a text file ('' if it cannot be read)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def new_password() -> str:
    """A password for a server only this process (and what it hands it to) should reach."""
    return secrets.token_urlsafe(32)


# How long one try of a starting server's health waits for its answer (later tries start
# meanwhile).
HEALTH_TRY_LIMIT = 10.0


class OpenCodeServer:
    """One `opencode serve` process on 127.0.0.1, usable as an async context manager.

    It listens with a random password (`self.password`) unless one is given: any local
    user or web page could otherwise drive its agents, which may run shell commands.
    Give the same password to a server restarted on the same port, so clients reconnect.
    With *snapshots* false it runs with OpenCode's snapshots off (see `snapshots_off`).
    With a *database* it keeps its sessions there, not in OpenCode's usual one (a second
    server beside one that uses that: see `ServerPool`).
    """

    def __init__(
        self,
        directory: Path,
        *,
        log_path: Path,
        binary: str | None = None,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
        stop_grace: float = 5.0,
        password: str | None = None,
        snapshots: bool = True,
        database: Path | None = None,
    ) -> None:
        self.directory = directory
        self.database = database
        self.password = password or new_password()
        self.log_path = log_path
        self.binary = binary
        self.port = port
        self.env = dict(env) if env is not None else None
        self.snapshots = snapshots
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server has not been started")
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> OpenCodeServer:
        """Start the server and wait until `/global/health` answers."""
        binary = find_opencode(self.binary)
        if not self.directory.is_dir():
            raise OpenCodeStartError(f"{self.directory} is not a directory.")
        # A first start binds the port itself (`--port 0`) and says which: a port picked
        # free beforehand could be taken by another process before OpenCode binds it.
        port = self.port or 0
        private_dir(self.log_path.parent)
        # The log holds the agents' output, so it is the user's alone.
        with private_file(self.log_path).open("ab") as log:
            log.write(f"\n--- {time.ctime()}: {binary} serve --port {port}\n".encode())
            log.flush()
            output_start = log.tell()
            self.process = await asyncio.create_subprocess_exec(
                binary,
                "serve",
                "--hostname",
                "127.0.0.1",
                "--port",
                str(port),
                cwd=self.directory,
                env=self._environment(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
            )
        # A last resort for an interpreter that exits without awaiting stop().
        atexit.register(self.kill_now)
        try:
            await self._wait_until_healthy(output_start)
        except BaseException:
            await self.stop()
            raise
        return self

    def _environment(self) -> dict[str, str]:
        env = {**(os.environ if self.env is None else self.env), PASSWORD_VARIABLE: self.password}
        env.setdefault(ALLOCATOR_VARIABLE, "1")
        if not self.snapshots:
            snapshots_off(env)
        if self.database is not None:
            env[DATABASE_VARIABLE] = str(self.database)
        return env

    def _listening_port(self, output_start: int) -> int | None:
        """The port the server says it listens on, in its output after *output_start*."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(output_start)
                found = _LISTENING.search(log.read())
        except OSError:
            return None
        return int(found.group(1)) if found else None

    async def _wait_until_healthy(self, output_start: int) -> None:
        """Wait until the server has said its port (on a first start) and answers there.

        A try is not waited for before the next: OpenCode takes connections a moment before
        it can answer them and never answers one taken then (1.18.33, on a restart on the
        same port), so a new try starts every tenth of a second beside those still waiting.
        """
        import httpx  # Here: finding `opencode` before the screen's first frame needs no HTTP.

        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        tries: set[asyncio.Task[bool]] = set()
        async with httpx.AsyncClient() as http:

            async def answered(url: str) -> bool:
                try:
                    response = await http.get(url, timeout=HEALTH_TRY_LIMIT)
                except httpx.HTTPError:
                    return False
                return response.status_code in (200, 401)

            try:
                next_try = time.monotonic()
                while True:
                    if self.process.returncode is not None:
                        raise OpenCodeStartError(
                            f"opencode serve exited with status {self.process.returncode} "
                            f"while starting. Its last output ({self.log_path}):\n"
                            f"{tail(self.log_path)}"
                        )
                    if self.port is None:
                        self.port = self._listening_port(output_start)
                    now = time.monotonic()
                    if self.port is not None and now >= next_try:
                        url = f"{self.url}/global/health"
                        tries.add(asyncio.create_task(answered(url)))
                        next_try = now + 0.1
                    if now > deadline:
                        raise OpenCodeStartError(
                            f"opencode serve did not answer within {self.startup_timeout:.0f}s. "
                            f"Its last output ({self.log_path}):\n{tail(self.log_path)}"
                        )
                    wait = max(0.0, next_try - time.monotonic())
                    if not tries:
                        await asyncio.sleep(max(wait, 0.1 if self.port is None else 0.0))
                        continue
                    done, tries = await asyncio.wait(
                        tries, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                    )
                    if any(task.result() for task in done):
                        return
            finally:
                for task in tries:
                    task.cancel()
                await asyncio.gather(*tries, return_exceptions=True)

    async def stop(self) -> None:
        """Terminate the server, then kill it if it has not exited after the grace period."""
        process, self.process = self.process, None
        atexit.unregister(self.kill_now)
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), self.stop_grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

    async def exited(self) -> int:
        """Wait until the running server exits (however it ends); return its status."""
        process = self.process
        if process is None:
            raise RuntimeError("the server has not been started")
        return await process.wait()

    async def restart(self) -> OpenCodeServer:
        """Start the server again on the same port with the same password, so clients
        and the event stream reconnect to it by themselves."""
        await self.stop()
        return await self.start()

    def kill_now(self) -> None:
        """Kill the server at once without awaiting (for a loop that is going away)."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    async def __aenter__(self) -> OpenCodeServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self.stop()
        except asyncio.CancelledError:
            # Cancelled while stopping (a second Ctrl-C): never leave the server running.
            self.kill_now()
            raise
