"""How a pool of OpenCode servers places directories (no call is made: placing is local).

The calls themselves, forks and restarts go through two real servers in
tests/core/test_server_pool.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from ensemble_tui.opencode.client import MOVE_SESSION, OpenCodeClient
from ensemble_tui.opencode.pool import MemoryRoutes, ServerPool


def pool(home: Path, count: int, book: MemoryRoutes | None = None) -> ServerPool:
    clients = [OpenCodeClient(f"http://127.0.0.1:{9 + n}", password="x") for n in range(count)]
    made = ServerPool(clients, str(home))
    if book is not None:
        made.use_routes(book)
    return made


def folders(root: Path, *names: str) -> list[str]:
    for name in names:
        (root / name).mkdir()
    return [str(root / name) for name in names]


def test_the_home_stays_on_the_first_server_and_new_folders_go_to_the_emptiest(
    tmp_path: Path,
) -> None:
    spread = pool(tmp_path, 3)
    a, b, c, d = folders(tmp_path, "a", "b", "c", "d")
    assert spread.server_of(str(tmp_path)) == 0
    # The home counts on server 0: the first two go to 1 and 2, then round again from 0.
    assert [spread.server_of(folder) for folder in (a, b, c, d)] == [1, 2, 0, 1]
    assert spread.server_of(a) == 1, "a folder keeps its server"
    assert spread.server_for(b) is spread.clients[2]
    assert len(spread.servers) == 3


def test_gone_folders_stop_counting_and_are_dropped_from_the_book(tmp_path: Path) -> None:
    book = MemoryRoutes()
    spread = pool(tmp_path, 2, book)
    a, b, c = folders(tmp_path, "a", "b", "c")
    assert [spread.server_of(a), spread.server_of(b)] == [1, 0]
    Path(a).rmdir()  # a finished teammate's worktree is removed
    assert spread.server_of(c) == 1
    assert book.opencode_routes() == {b: 0, c: 1}


def test_a_resumed_pool_finds_the_servers_in_the_book(tmp_path: Path) -> None:
    a, b = folders(tmp_path, "a", "b")
    book = MemoryRoutes()
    book.set_opencode_route(a, 0)
    book.set_opencode_route(b, 1)
    again = pool(tmp_path, 2, book)
    assert [again.server_of(a), again.server_of(b)] == [0, 1]
    fewer = pool(tmp_path, 1, book)
    assert fewer.server_of(b) == 0, "a server no longer run: the one there is (and a warning)"


class Recording(OpenCodeClient):
    """A client that notes each call instead of making it: these tests look only at which
    server a call goes to (the real calls, through two servers, are in test_server_pool)."""

    def __init__(self, base_url: str, calls: list[tuple[str, str]]) -> None:
        super().__init__(base_url, password="x")
        self.calls = calls

    async def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        self.calls.append((self.base_url, path))
        return httpx.Response(200, json=True, request=httpx.Request(method, self.base_url))


async def test_a_session_moved_home_from_another_server_is_still_asked_there(
    tmp_path: Path,
) -> None:
    calls: list[tuple[str, str]] = []
    clients = [Recording(f"http://127.0.0.1:{9 + n}", calls) for n in range(2)]
    book = MemoryRoutes()
    spread = ServerPool(clients, str(tmp_path))
    spread.use_routes(book)
    (worktree,) = folders(tmp_path, "alice")
    assert spread.server_of(worktree) == 1
    home = str(tmp_path)

    await spread.move_session("ses_alice", home, origin=worktree)
    os.rmdir(worktree)  # merged: the worktree is removed
    await spread.abort("ses_alice", home)
    await spread.abort("ses_lead", home)

    second, first = clients[1].base_url, clients[0].base_url
    assert calls == [
        (second, MOVE_SESSION),
        (second, "/session/ses_alice/abort"),
        (first, "/session/ses_lead/abort"),
    ]
    assert spread.server_for_session("ses_alice", home) is clients[1]
    assert book.opencode_session_routes() == {"ses_alice": 1}
    again = ServerPool(clients, home)
    again.use_routes(book)
    assert again.server_for_session("ses_alice", home) is clients[1], "kept for a resume"
