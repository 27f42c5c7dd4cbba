"""How a pool of OpenCode servers places directories (no call is made: placing is local).

The calls themselves, forks and restarts go through two real servers in
tests/core/test_server_pool.py."""

from __future__ import annotations

from pathlib import Path

from ensemble_tui.opencode.client import OpenCodeClient
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
