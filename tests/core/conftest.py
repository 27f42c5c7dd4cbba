"""Fixtures for the git layer: real repositories in temp dirs, with no git identity configured.

The product must commit with its own identity, so the repositories have none and the global
config sets `user.useConfigOnly`; the test helper passes a test identity on each command.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ensemble_tui.core.git.worktrees import WorktreeInfo, create_worktree
from ensemble_tui.core.models import Team
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import TeamEvent
from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.settings import CoordinatorSettings
from ensemble_tui.core.team.spawn import SpawnRequest, spawn_teammate
from ensemble_tui.core.team.team_tools import TeamTools
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.models import MessageWithParts, TextPart
from ensemble_tui.options import RunOptions

TEST_IDENTITY = ("-c", "user.name=Test User", "-c", "user.email=test@example.invalid")
# app.py has 30 numbered lines so tests can change separate hunks of it.
APP_TEXT = "".join(f"line {number}\n" for number in range(1, 31))


def run_git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run git in `cwd` as the test user and return stdout."""
    done = subprocess.run(["git", *TEST_IDENTITY, *args], cwd=cwd, capture_output=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr.decode()}")
    return done.stdout.decode()


@dataclass(frozen=True)
class RepoSnapshot:
    """Everything a refused merge must leave as it was."""

    status: str
    index_sha: str
    head: str
    refs: str
    files: Mapping[str, tuple[bytes, int]]


@dataclass(frozen=True)
class GitRepo:
    """A repository or worktree under test, with small helpers."""

    path: Path

    def git(self, *args: str, check: bool = True) -> str:
        return run_git(self.path, *args, check=check)

    def at(self, path: Path) -> GitRepo:
        """The same helpers for another checkout, such as a teammate's worktree."""
        return GitRepo(path)

    def write(self, relative: str, content: str | bytes) -> None:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        target.write_bytes(content)

    def read(self, relative: str) -> bytes:
        return (self.path / relative).read_bytes()

    def commit_all(self, message: str) -> str:
        self.git("add", "--all")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def index_sha(self) -> str:
        index = Path(self.git("rev-parse", "--path-format=absolute", "--git-path", "index").strip())
        return hashlib.sha256(index.read_bytes()).hexdigest()

    def snapshot(self) -> RepoSnapshot:
        # `git status` may refresh the index, so it runs before the index is hashed.
        status = self.git("status", "--porcelain=v1", "-z", "--untracked-files=all")
        files = {}
        for directory, subdirectories, names in os.walk(self.path):
            subdirectories[:] = [name for name in subdirectories if name != ".git"]
            for name in names:
                path = Path(directory) / name
                files[str(path.relative_to(self.path))] = (path.read_bytes(), path.stat().st_mode)
        return RepoSnapshot(
            status=status,
            index_sha=self.index_sha(),
            head=self.git("rev-parse", "HEAD"),
            refs=self.git("for-each-ref"),
            files=files,
        )


@pytest.fixture
def git_without_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Git config isolated from the machine's, with no identity and no guessing of one."""
    global_config = tmp_path / "gitconfig"
    global_config.write_text("[user]\n\tuseConfigOnly = true\n[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for variable in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "EMAIL",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
    ):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def user_repo(tmp_path: Path, git_without_identity: None) -> GitRepo:
    """The user's repository: one commit with text, binary and ignored-file rules."""
    repo = GitRepo(tmp_path / "project")
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    repo.write("README.md", "# project\n\nA readme.\n")
    repo.write("app.py", APP_TEXT)
    repo.write("notes.txt", "first note\nsecond note\n")
    repo.write("logo.bin", bytes(range(256)) * 4)
    repo.write(".gitignore", "*.log\nbuild/\n")
    repo.commit_all("initial commit")
    return repo


@pytest.fixture
def worktree_root(tmp_path: Path) -> Path:
    """Where the teammates' worktrees go: outside the user's repository."""
    return tmp_path / "worktrees"


TeammateFactory = Callable[..., WorktreeInfo]


@pytest.fixture
def make_teammate(user_repo: GitRepo, worktree_root: Path) -> TeammateFactory:
    """Create a teammate worktree and commit the given changes (None deletes a file) on it."""

    def make(member: str, changes: Mapping[str, str | bytes | None] | None = None) -> WorktreeInfo:
        info = create_worktree(user_repo.path, worktree_root, "alpha", member)
        if changes:
            checkout = user_repo.at(info.path)
            for relative, content in changes.items():
                if content is None:
                    (info.path / relative).unlink()
                else:
                    checkout.write(relative, content)
            checkout.commit_all(f"work of {member}")
        return info

    return make


async def start_and_wait_for_alice(coord: Coordinator, lead_prompt: str) -> None:
    """Start the lead of a `slow_alice_team` and wait until alice works on t1 and both
    spawns are done, before a test stops OpenCode or the run: a spawn the kill cuts short is
    undone and the lead told to spawn again, which the scripted lead cannot improvise
    (with bob's spawn still in flight the kill left t2 with nobody, seen under `-n 2`)."""
    alice_working = asyncio.Event()
    claimed = False
    spawned: set[str | None] = set()

    def watch(event: TeamEvent) -> None:
        nonlocal claimed
        if event.type == "member.spawned":
            spawned.add(event.member)
        if event.type == "task.claimed" and event.member == "alice":
            claimed = True
        if claimed and spawned >= {"alice", "bob"}:
            alice_working.set()

    coord.feed.subscribe(watch)
    await coord.prompt(await coord.start_lead(), lead_prompt)
    async with asyncio.timeout(90):
        await alice_working.wait()


def serve_pid(client: OpenCodeClient) -> int:
    """The process id of the `opencode serve` listening on the client's port."""
    port = int(client.base_url.rsplit(":", 1)[1])
    listening = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        # local address (hex ip:port), state (0A is LISTEN), inode
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            listening.add(f"socket:[{fields[9]}]")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"serve" not in (entry / "cmdline").read_bytes().split(b"\0"):
                continue
            if any(os.readlink(fd) in listening for fd in (entry / "fd").iterdir()):
                return int(entry.name)
        except OSError:
            continue
    raise AssertionError(f"no opencode serve on port {port}")


class LostPromptTransport(httpx.AsyncBaseTransport):
    """Passes every request on except the first prompt that holds *text*, which it answers
    204 itself: OpenCode's answer came and its write never did. (OpenCode cannot be killed
    between its answer and its write on purpose, so this is the one part that is not real.)"""

    def __init__(self, text: str) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.text = text
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = request.content.decode(errors="replace")
        if request.url.path.endswith("/prompt_async") and self.text in body and not self.lost:
            self.lost += 1
            return httpx.Response(204, request=request)
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


async def create_team(coord: Coordinator, name: str) -> Team:
    """The lead started and a team *name* created, as the lead's `team_create` does."""
    lead = await coord.start_lead()
    caller = Caller("lead", is_lead=True, team_id=None, session_id=lead.session_id)
    await TeamTools(coord).team_create(caller, name)
    assert coord.team is not None
    return coord.team


async def spawn_through(
    coord: Coordinator, team: Team, transport: httpx.AsyncBaseTransport, request: SpawnRequest
) -> None:
    """Spawn *request* with the coordinator's calls to OpenCode going through *transport*
    (the coordinator's own client is given back after)."""
    real = coord.client
    async with OpenCodeClient(real.base_url, password=real.password, transport=transport) as c:
        coord.client = c
        try:
            await spawn_teammate(coord, team, request)
        finally:
            coord.client = real


def own_server_options(
    tmp_path: Path, repo: Path, binary: str, env: dict[str, str], prompt: str = "", servers: int = 1
) -> RunOptions:
    """A run that starts its own OpenCode (*servers* of them) for *repo*, its store and
    worktrees in *tmp_path*."""
    return RunOptions(
        repo_root=repo,
        prompt=prompt,
        opencode_bin=binary,
        server_env=env,
        store_path=tmp_path / "state.db",
        settings=CoordinatorSettings(
            worktree_root=tmp_path / "worktrees", opencode_servers=servers
        ),
    )


def text_of(messages: list[MessageWithParts]) -> str:
    """The text parts of a transcript, one a line."""
    return "\n".join(p.text for m in messages for p in m.parts if isinstance(p, TextPart))
