"""Fixtures shared by every test: real git repositories, the real OpenCode, the scripted model."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from ensemble_tui.composition import opencode_client, running_coordinator
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import EVENT_TYPES, TeamEvent
from ensemble_tui.core.team.feed import Feed
from ensemble_tui.core.team.settings import CoordinatorSettings
from ensemble_tui.demo.environment import (
    isolated_environment,
    scripted_opencode_environment,
    seed_opencode_config,
    without_model_catalogue,
)
from ensemble_tui.demo.scripted_model import ScriptedModel
from ensemble_tui.opencode.client import DEFAULT_USERNAME, OpenCodeClient
from ensemble_tui.opencode.server import BIN_VARIABLE, OpenCodeServer, check_opencode_version
from ensemble_tui.opencode.version_cache import cache_path as version_cache_path
from ensemble_tui.options import RunOptions

ROOT = Path(__file__).resolve().parent.parent
PINNED_OPENCODE = ROOT / ".tools/opencode-1.18.33/node_modules/.bin/opencode"
# What `make` installs there for OpenCode's config folder, per OpenCode version.
PLUGIN_DEPS = ROOT / ".tools/opencode-plugin-{version}"


# The team name of the tests on the shared server, unless a name is what a test is about or
# it needs a second team. A teammate works in `worktrees/<team>/<member>` beside the
# worker's pooled repository (see `RepoSlot`), and OpenCode keeps each folder it has booted
# warm for the next test: a new folder costs it about 2 s of CPU, a whole small turn in a
# warm one 0.3 s. So these tests also name their teammates from a few names, in this order
# (forks and hand-offs too): alice, bob, carl, dina.
TEAM = "crew"

# The type of every team event the suite's coordinators emitted (in this process, and on
# the xdist controller those its workers emitted).
EMITTED: set[str] = set()


@pytest.fixture(autouse=True, scope="session")
def _note_emitted_events() -> Iterator[None]:
    """Note each team event type a test makes happen, for the check at the end."""
    emit = Feed.emit

    def noting(feed: Feed, event: TeamEvent) -> None:
        EMITTED.add(event.type)
        emit(feed, event)

    Feed.emit = noting  # type: ignore[method-assign,assignment]
    yield
    Feed.emit = emit  # type: ignore[method-assign]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker, hand the event types it saw to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["emitted_event_types"] = sorted(EMITTED)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the xdist controller, gather the event types each worker saw."""
    EMITTED.update(getattr(node, "workeroutput", {}).get("emitted_event_types", ()))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name the `--json` event types no test made happen (in-process) in a whole run."""
    if EMITTED:
        missing = sorted(set(EVENT_TYPES) - EMITTED)
        terminalreporter.write_line(
            f"team event types produced: {len(EMITTED)} of {len(EVENT_TYPES)}; "
            f"not produced by any test: {', '.join(missing) or 'none'}"
        )


# With TEST_CPU_LOG=FILE (not ENSEMBLE_*: those are settings), each test's cost is appended
# to FILE as a line (by every xdist worker): wall seconds, then CPU seconds of the test
# process (its threads: the scripted model, the shared server's loop), of the children it
# has reaped (own `opencode serve`s, CLI runs, git) and of the run's shared `opencode serve`.
CPU_LOG_VARIABLE = "TEST_CPU_LOG"
_SHARED_SERVER_PID: list[int] = []
_SHARED_SERVER_FINAL: list[float] = []
"""The shared server's CPU as it was stopped: reaped, it is in the children's figure too,
and the test it stopped after would otherwise be given all of it (and shared a minus)."""


def _shared_server_cpu() -> float:
    """The CPU seconds the shared server (and what it reaped) has used so far."""
    if _SHARED_SERVER_FINAL:
        return _SHARED_SERVER_FINAL[0]
    if not _SHARED_SERVER_PID:
        return 0.0
    try:
        fields = Path(f"/proc/{_SHARED_SERVER_PID[0]}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime are fields 14-17 of the line (11-14 after the name).
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _cpu_now() -> tuple[float, float, float, float]:
    own = os.times()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = _SHARED_SERVER_FINAL[0] if _SHARED_SERVER_FINAL else 0.0
    return (
        time.monotonic(),
        own.user + own.system,
        children.ru_utime + children.ru_stime - reaped,
        _shared_server_cpu(),
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None]:
    """With `TEST_CPU_LOG` set, note what the test cost (set-up and teardown included)."""
    target = os.environ.get(CPU_LOG_VARIABLE)
    before = _cpu_now() if target else None
    yield
    if target and before is not None:
        spent = [after - start for after, start in zip(_cpu_now(), before, strict=True)]
        with open(target, "a") as out:
            out.write("\t".join([item.nodeid, *(f"{value:.2f}" for value in spent)]) + "\n")


# `opencode serve --port 0` takes 4096 when it is free, else a port the OS picks. The run
# holds 4096 (when it can), so its servers all get ports of their own: one that the tests
# restart on the same port could otherwise be taken meanwhile by any other server starting.
OPENCODE_FIRST_PORT = 4096
_HELD_PORTS: list[socket.socket] = []


def pytest_configure(config: pytest.Config) -> None:
    """In the process that runs the whole session (not in an xdist worker), hold 4096."""
    if hasattr(config, "workerinput"):
        return
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", OPENCODE_FIRST_PORT))
    except OSError:
        holder.close()  # Taken already: by a server that keeps it, or by another run.
    else:
        _HELD_PORTS.append(holder)


def pytest_unconfigure(config: pytest.Config) -> None:
    while _HELD_PORTS:
        _HELD_PORTS.pop().close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that runs the real OpenCode, so `make test-fast` can leave them out,
    and put the slow kinds of test first."""
    for item in items:
        if "opencode_bin" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.opencode)
    # xdist hands tests out in this order, to whichever worker is free: with the long ones
    # first, the short ones at the end fill the gaps and the workers end together (in file
    # order, a test of half a minute given out last keeps one worker busy alone). The sort
    # is stable: within a kind, tests keep their order.
    items.sort(key=_expected_cost)


def _expected_cost(item: pytest.Item) -> int:
    """0 for the slowest kind of test, 3 for the fastest (from the durations of whole runs)."""
    names = getattr(item, "fixturenames", ())
    if "opencode_env" in names:
        return 0  # its own `opencode serve`, or `run` or the screen starting one
    if "opencode_bin" in names and "opencode_server" not in names:
        return 1  # the demo, or a server started with a binary of the test's own
    if "opencode_server" in names:
        return 2  # a team at work on the shared server
    return 3


def git(cwd: Path, *args: str) -> str:
    """Run git in *cwd* with a fixed identity and return its output."""
    env = dict(os.environ, GIT_AUTHOR_NAME="Test", GIT_AUTHOR_EMAIL="test@example.invalid")
    env.update(GIT_COMMITTER_NAME="Test", GIT_COMMITTER_EMAIL="test@example.invalid")
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return done.stdout.decode()


@pytest.fixture(scope="session")
def opencode_bin() -> str:
    """The pinned OpenCode binary that `make test` installs (or ENSEMBLE_OPENCODE_BIN)."""
    binary = os.environ.get(BIN_VARIABLE) or str(PINNED_OPENCODE)
    if not Path(binary).exists():
        pytest.fail(f"OpenCode is not installed at {binary}: run the tests with `make test`.")
    return binary


@pytest.fixture(scope="session")
def opencode_plugin_deps(opencode_bin: str) -> Path | None:
    """The plugin package OpenCode installs into a new config folder, as `make` installed it
    for this OpenCode's version (None when it did not).

    In a new HOME, OpenCode's first request starts an `npm install` of that package in the
    background: about 5 s of CPU and a download for every test that starts its own server.
    """
    deps = Path(str(PLUGIN_DEPS).format(version=check_opencode_version(opencode_bin)))
    return deps if (deps / "node_modules" / "@opencode-ai" / "plugin").is_dir() else None


@pytest.fixture(scope="session")
def opencode_version_cache(opencode_bin: str) -> Path | None:
    """ensemble-tui's file of remembered `opencode --version` answers, holding the pinned
    OpenCode's (None when it could not be written)."""
    check_opencode_version(opencode_bin)
    path = version_cache_path()
    return path if path.is_file() else None


def seed_version_cache(env: dict[str, str], cache: Path | None) -> dict[str, str]:
    """Put *cache* (see `opencode_version_cache`) into the cache folder of *env*'s
    ensemble-tui, as a user's holds it after a first start; return *env*.

    Each `ensemble-tui run` in a new HOME otherwise asks `opencode --version` first: about
    a second of CPU (tests/opencode/test_version_and_launch.py tests the asking).
    """
    if cache is not None:
        folder = Path(env["XDG_CACHE_HOME"]) / "ensemble-tui"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache, folder / cache.name)
    return env


def without_snapshots(env: dict[str, str]) -> dict[str, str]:
    """Switch off OpenCode's snapshots in the config of *env*'s OpenCode; return *env*.

    At each step of a turn OpenCode adds the whole folder to a git repository of its own
    (for its undo and its per-turn diffs, which ensemble-tui does not use): about half of
    OpenCode's CPU in a team test. The shared server has them off, and so have the tests
    that start an OpenCode of their own (`opencode_env_without_snapshots`) unless their
    subject is snapshots or what a user gets by default: those keep OpenCode as a user's
    is (tests/opencode/test_snapshots_setting.py, the plain `run` of
    tests/core/test_run_command.py, the demo). (Turning them off in the crash test first
    found two races that snapshots' slower steps hide: a first prompt written without its
    text, tests/core/test_lost_prompt.py, and a tool call cut short,
    tests/demo/test_scripted_model.py.)
    """
    config = Path(env["XDG_CONFIG_HOME"]) / "opencode" / "opencode.json"
    document = json.loads(config.read_text())
    document["snapshot"] = False
    config.write_text(json.dumps(document, indent=2) + "\n")
    return env


# OpenCode's runtime (Bun, on JavaScriptCore) compiles code that runs often with ever more
# optimizing compilers, the last of them (FTL) the costliest to run. The OpenCode a test
# starts of its own lives for seconds, too short to earn that back: without FTL its start
# took 0.4 s less CPU (2.3 s instead of 2.7 s, six starts of each, taken in turns)
# and its turns the same. What OpenCode does is unchanged (the code runs in the lower
# tiers); the run's shared server, which lives as long as the run, keeps it.
SHORT_LIVED_OPENCODE = {"BUN_JSC_useFTLJIT": "false"}


def make_git_repo(repo: Path) -> Path:
    """A git repository at *repo* with one commit, on branch main."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# a project\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "initial commit")
    return repo


@pytest.fixture
def git_repo(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A git repository with one commit, on branch main.

    A test on the shared server gets the worker's pooled one (`pooled_repo`), reset to
    exactly this; the folder beside it, `git_repo.parent / "worktrees"`, is where its
    team's worktrees go, so that they stay warm in OpenCode too.
    """
    if "opencode_server" in request.fixturenames:
        pooled: Path = request.getfixturevalue("pooled_repo")
        return pooled
    return make_git_repo(tmp_path / "repo")


@pytest.fixture(scope="session")
def scripted_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScriptedModel]:
    """The scripted model of the whole run: a script lives in its conversation, so one
    model serves every test (and every OpenCode) at once."""
    with ScriptedModel(log_path=tmp_path_factory.mktemp("model") / "model.log") as model:
        yield model


class Holds:
    """Scripted-model holds (a step's `hold`) for one test: a step waits until the test
    has seen what it waits for, instead of a `delay` guessing how long that takes."""

    def __init__(self, model: ScriptedModel) -> None:
        self.model = model
        self.made: list[str] = []

    def new(self, label: str) -> str:
        """A hold name no other script of the run uses."""
        name = self.model.new_hold(label)
        self.made.append(name)
        return name

    def release(self, name: str) -> None:
        self.model.release(name)


@pytest.fixture
def holds(scripted_model: ScriptedModel) -> Iterator[Holds]:
    """The test's holds; any still held at its end are released, so no request of a
    failed test waits on."""
    made = Holds(scripted_model)
    yield made
    for name in made.made:
        made.release(name)


@pytest.fixture
def opencode_env(
    tmp_path: Path,
    scripted_model: ScriptedModel,
    opencode_plugin_deps: Path | None,
    opencode_version_cache: Path | None,
) -> dict[str, str]:
    """An environment with a throwaway HOME whose OpenCode talks to the scripted model
    (ensemble-tui's cache there already knows the pinned OpenCode's version)."""
    env = without_model_catalogue(
        scripted_opencode_environment(tmp_path / "home", scripted_model.base_url)
    )
    env.update(SHORT_LIVED_OPENCODE)
    return seed_version_cache(
        seed_opencode_config(env, opencode_plugin_deps), opencode_version_cache
    )


@pytest.fixture
def opencode_env_without_snapshots(opencode_env: dict[str, str]) -> dict[str, str]:
    """`opencode_env` with OpenCode's snapshots off (see `without_snapshots`), for a test
    that starts an OpenCode of its own and whose subject is neither snapshots nor the
    user's defaults."""
    return without_snapshots(opencode_env)


@pytest.fixture(scope="session")
def shared_opencode(
    tmp_path_factory: pytest.TempPathFactory,
    opencode_bin: str,
    scripted_model: ScriptedModel,
    opencode_plugin_deps: Path | None,
) -> Iterator[OpenCodeServer]:
    """One real `opencode serve` for the run's tests that do not stop or restart it.

    One server serves many directories (every call names its own), so each test still
    works in its own repository, store and worktrees; starting OpenCode once instead of
    per test saves seconds a test. It runs on a loop of its own in a thread that lives as
    long as the run (the server dies with the thread that started it).
    """
    root = tmp_path_factory.mktemp("opencode")
    env = seed_opencode_config(
        without_model_catalogue(
            scripted_opencode_environment(root / "home", scripted_model.base_url)
        ),
        opencode_plugin_deps,
    )
    server = OpenCodeServer(
        root, log_path=root / "opencode.log", binary=opencode_bin, env=without_snapshots(env)
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="shared-opencode", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(timeout=180)
    assert server.process is not None
    _SHARED_SERVER_PID[:] = [server.process.pid]
    try:
        yield server
    finally:
        _SHARED_SERVER_FINAL[:] = [_shared_server_cpu()]
        _SHARED_SERVER_PID.clear()
        stopping = asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop)
        stopping.result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


@pytest.fixture
def opencode_server(
    shared_opencode: OpenCodeServer, repo_slot: RepoSlot
) -> Iterator[OpenCodeServer]:
    """The run's `opencode serve` (tests that stop or restart one start their own).

    After each test the server lets go of the folders the test's sessions worked in (one
    test at a time uses it), except the warm ones of the worker's pooled repository (see
    `pooled_repo`): OpenCode keeps an instance per folder, with its watchers and any turn
    still running, so a run's hundreds of repositories and worktrees otherwise pile up.
    After a test on the pooled repository, the sessions its reset listed (and has deleted
    in the slot) name those folders: each request costs the server CPU, so none is asked
    twice.
    """
    repo_slot.since, repo_slot.listed = time.time() * 1000, None
    yield shared_opencode
    with opencode_http(shared_opencode) as http:
        listed = repo_slot.listed
        if listed is None:
            listed = _sessions_since(http, repo_slot.since, repo_slot.repo)
        else:
            listed = [s for s in listed if not repo_slot.holds(s["directory"])]
        for directory in sorted({s["directory"] for s in listed}):
            _dispose(http, directory)


def opencode_http(server: OpenCodeServer) -> httpx.Client:
    """A plain client of *server* (for fixtures, outside any event loop)."""
    return httpx.Client(base_url=server.url, auth=(DEFAULT_USERNAME, server.password), timeout=60)


def _sessions_since(http: httpx.Client, since: float, warm: Path) -> list[dict[str, Any]]:
    """Every session of the server (any folder, archived too) updated since *since* (ms).

    The request names the folder *warm*, which OpenCode has an instance for, in its header:
    with no folder named, OpenCode boots an instance for its own working folder, one no test
    works in (about 2 s of CPU per worker); named in the query, the list holds only the
    sessions of that folder. OpenCode keeps every session a test does not delete, so the
    request asks only for those updated since *since* (`start`), not for a list that grows
    over the run.
    """
    response = http.get(
        "/experimental/session",
        params={"archived": "true", "limit": 100_000, "start": int(since)},
        headers={"x-opencode-directory": str(warm)},
    )
    response.raise_for_status()
    sessions: list[dict[str, Any]] = response.json()
    return [s for s in sessions if s["time"]["updated"] >= since]


def _dispose(http: httpx.Client, directory: str) -> None:
    http.post("/instance/dispose", params={"directory": directory}).raise_for_status()


def _settle(http: httpx.Client, directory: str) -> None:
    """Wait until OpenCode has started the file services of *directory*'s instance.

    OpenCode starts them with the folder's first turn, after the turn has begun; one that
    starts after the folder is removed fails (`FileSystem.realPath ... ENOENT`) and stays
    failed for the folder: every turn of the next test's worktree there failed. A listing
    of the folder starts them, or waits for them, while the folder is still there.
    """
    listing = http.get("/api/fs/list", params={"location[directory]": directory})
    listing.raise_for_status()
    # The listing does not wait for the folder's file search ("fff"), which the first turn
    # starts too: one started by a turn that began as the test ended failed once the reset
    # had removed the folder (`failed to initialize fff: Invalid path ...`), and the next
    # test's turns in the worktree there failed. A search waits for it (or starts it: after
    # a turn it answers in ~10 ms, where a folder's first search takes ~0.6 s).
    search = http.get("/find/file", params={"directory": directory, "query": "README"})
    search.raise_for_status()


class RepoSlot:
    """A worker's repository that the tests on the shared server take in turn, at one path.

    OpenCode boots an instance for each new folder it is asked about: about 2 s of CPU
    (its project, watcher, tools and services), against 0.3 s for a whole small turn in a
    warm one. A fresh repository per test made every test pay that for its repository and
    each teammate's worktree; at one path, the repository and the worktrees (under
    `worktrees/<team>/<member>` beside it, so the same names give the same folders) stay
    warm from one test to the next (the repository always; a worktree when a later test
    names its team and member the same, so the tests use `TEAM` and a few teammate names).
    Between tests `release` puts everything back as a fresh `git_repo` would be: the
    repository copied back from its first state, the worktrees gone, and OpenCode's
    sessions there aborted and deleted. An instance that still holds a status or a request
    of one, or that was told to allow something "always" (it keeps that in memory, for the
    folder), is let go of, to start cold.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        # When the test began (ms), and the sessions its reset listed (`opencode_server`).
        self.since = time.time() * 1000
        self.listed: list[dict[str, Any]] | None = None
        self.repo = root / "repo"
        self.worktrees = root / "worktrees"
        self.pristine = root / "pristine"
        # Folders whose instance must start cold after this test (see `pooled_repo`).
        self.cold: list[str] = []
        make_git_repo(self.pristine)
        shutil.copytree(self.pristine, self.repo, symlinks=True)

    def holds(self, directory: str) -> bool:
        return Path(directory).is_relative_to(self.root)

    def release(self, http: httpx.Client, since: float) -> list[dict[str, Any]]:
        """Abort and delete the sessions the test left in the slot, then reset its files;
        let go of the `cold` folders' instances (and of any that still holds state).
        Returns the sessions updated since *since*, of any folder (`opencode_server`)."""
        cold, self.cold = set(self.cold), []
        listed = _sessions_since(http, since, self.repo)
        ours = [s for s in listed if self.holds(s["directory"])]
        directories = cold | {s["directory"] for s in ours}
        # Every session is stopped (a teammate's is a child of the lead's, with turns of its
        # own), then deleted with its parent: OpenCode deletes a session's children with it.
        for session in ours:
            _session_request(http, "POST", session, self.repo, "/abort")
        parents = {s["id"] for s in ours}
        for session in ours:
            if session.get("parentID") not in parents:
                _session_request(http, "DELETE", session, self.repo)
        for directory in sorted(directories):
            if not Path(directory).is_dir():
                # Removed during the test (a merge, a review's end, an undone spawn):
                # ensemble-tui dropped its instance just before (a removal can come as the
                # folder's first turn begins, whose services then fail), and asking about
                # it now would start one for a missing folder.
                continue
            if directory in cold:
                _dispose(http, directory)
                continue
            query = {"directory": directory}
            if any(http.get(path, params=query).json() for path in _INSTANCE_STATE):
                _dispose(http, directory)
            elif directory != str(self.repo):
                # The reset removes every folder of the slot but the repository (only what
                # is in it): no service of the repository's instance can find it gone.
                _settle(http, directory)
        _wipe(self.worktrees)
        for child in self.repo.iterdir():
            _wipe(child)
        shutil.copytree(self.pristine, self.repo, symlinks=True, dirs_exist_ok=True)
        return listed


def _session_request(
    http: httpx.Client, method: str, session: dict[str, Any], repo: Path, action: str = ""
) -> None:
    """Ask about a session in its folder, or through the repository *repo* once the folder
    is gone, as ensemble-tui does (`Coordinator.session_folder`): a request that names a
    removed folder has OpenCode start an instance for it, kept for that path, which the
    next test's worktree there would get."""
    path = f"/session/{session['id']}{action}"
    folder = session["directory"]
    where = {"directory": folder if Path(folder).is_dir() else str(repo)}
    response = http.request(method, path, params=where)
    if response.status_code not in (200, 404):
        raise AssertionError(f"{method} {path} failed after the test")


# What an instance keeps for its sessions, and must not keep once they are deleted.
_INSTANCE_STATE = ("/session/status", "/permission", "/question")


def _wipe(path: Path) -> None:
    """Remove *path* whatever a test left in it (read-only folders included)."""

    def writable_then_retry(function: Any, name: str, _: object) -> None:
        os.chmod(Path(name).parent, 0o700)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(name, 0o700)
        function(name)

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=writable_then_retry)


@pytest.fixture(scope="session")
def repo_slot(tmp_path_factory: pytest.TempPathFactory) -> RepoSlot:
    """This worker's pooled repository (xdist runs one test at a time per worker)."""
    return RepoSlot(tmp_path_factory.mktemp("pool"))


@pytest.fixture
def pooled_repo(
    repo_slot: RepoSlot,
    opencode_server: OpenCodeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    """The worker's pooled repository, as a fresh `git_repo` (see `RepoSlot`).

    ensemble-tui's own folders are the test's: its data (store, logs, default worktrees)
    is found by the repository's path, which every test of the worker shares.
    """
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    reply_permission = OpenCodeClient.reply_permission

    async def noting_always(
        client: OpenCodeClient, request_id: str, directory: str, reply: Any, *rest: Any
    ) -> bool:
        if reply == "always":
            repo_slot.cold.append(directory)
        return await reply_permission(client, request_id, directory, reply, *rest)

    monkeypatch.setattr(OpenCodeClient, "reply_permission", noting_always)
    yield repo_slot.repo
    with opencode_http(opencode_server) as http:
        repo_slot.listed = repo_slot.release(http, repo_slot.since)


@pytest.fixture
async def client(opencode_server: OpenCodeServer) -> AsyncIterator[OpenCodeClient]:
    async with OpenCodeClient(opencode_server.url, password=opencode_server.password) as opencode:
        await opencode.connect()
        yield opencode


class TeamOptions(Protocol):
    def __call__(self, prompt: str = "", **settings: Any) -> RunOptions: ...


@pytest.fixture
def team_options(tmp_path: Path, git_repo: Path, opencode_server: OpenCodeServer) -> TeamOptions:
    """Options for a team against the test server, its store and worktrees under tmp_path."""

    def make(prompt: str = "", **settings: Any) -> RunOptions:
        settings.setdefault("worktree_root", git_repo.parent / "worktrees")
        return RunOptions(
            repo_root=git_repo,
            prompt=prompt,
            url=opencode_server.url,
            password=opencode_server.password,
            store_path=tmp_path / "state.db",
            settings=CoordinatorSettings(**settings),
        )

    return make


@contextlib.asynccontextmanager
async def running_team(options: RunOptions) -> AsyncIterator[Coordinator]:
    """A running coordinator on a client for *options*; its client is `coord.client`."""
    async with opencode_client(options) as client, running_coordinator(options, client) as coord:
        yield coord


# Helpers more than one test module uses (test modules never import each other).


def isolated(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment with its own HOME and XDG folders, no user config, and PATH kept."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
        "XDG_DATA_HOME": str(tmp_path / "home" / ".local" / "share"),
    }
    env.update(extra)
    return env


# The team's machinery: over a second of imports that a refused start should not pay.
HEAVY_MODULES = ("ensemble_tui.core.team.coordinator", "ensemble_tui.opencode.client", "mcp")


def heavy_modules_after(
    args: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    modules: tuple[str, ...] = HEAVY_MODULES,
) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """Which of *modules* (default HEAVY_MODULES) `cli.main(args)` imported, in a Python
    of its own, and how that process ended."""
    probe = (
        "import sys, contextlib\n"
        "from ensemble_tui import cli\n"
        f"with contextlib.suppress(SystemExit): cli.main({args!r})\n"
        f"print(sorted(name for name in {modules!r} if name in sys.modules))\n"
    )
    done = fresh_python(probe, cwd, env)
    return ast.literal_eval(done.stdout.strip().splitlines()[-1]), done


def fresh_python(
    probe: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The Python code *probe* run in a Python of its own (what a start imports is seen
    only in a process that has imported nothing yet); it must end well."""
    return subprocess.run(
        [sys.executable, "-c", probe],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ensemble_tui", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def no_provider_environment(home: Path, deps: Path | None) -> dict[str, str]:
    """OpenCode with no provider connected (its free one switched off)."""
    env = seed_opencode_config(isolated_environment(home), deps)
    folder = Path(env["XDG_CONFIG_HOME"]) / "opencode"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "opencode.json").write_text(json.dumps({"disabled_providers": ["opencode"]}))
    return env


def first_request_playing(model: ScriptedModel, since: int, **step: Any) -> dict[str, Any]:
    """The first request the model answered with a step that has these fields, among those
    after the first *since* (the model serves the whole run: an earlier test on the same
    worker may have played the same step, in a conversation of its own)."""
    for request in model.requests[since:]:
        played = request["step"]
        if all(played.get(key) == value for key, value in step.items()):
            return request
    raise AssertionError(f"no request played {step}")
