"""The task board: validation, dependencies, atomic claims, completion and release."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ensemble_tui.core.models import Member, MemberStatus, MemberUpdate, TaskPriority, TaskStatus
from ensemble_tui.core.store.store import Store
from ensemble_tui.core.team.taskboard import TaskBoard, TaskBoardError, TaskSpec

CLAIM_TRIALS = 30
CLAIMERS = 6


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store(db_path) as opened:
        yield opened


@pytest.fixture
def team_id(store: Store) -> int:
    team = store.create_team("alpha", Path("/repo"), "ses_lead")
    for index in range(CLAIMERS):
        store.add_member(Member(team_id=team.id, name=f"m{index}"))
    for name in ("alice", "bob"):
        store.add_member(Member(team_id=team.id, name=name))
    return team.id


@pytest.fixture
def board(store: Store) -> TaskBoard:
    return TaskBoard(store)


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, read through a connection of its own."""
    with sqlite3.connect(path) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            t: connection.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables
        }


def specs(*items: tuple[str, list[str]]) -> list[TaskSpec]:
    return [TaskSpec(content=content, depends_on=deps) for content, deps in items]


def statuses(board: TaskBoard, team_id: int) -> dict[str, TaskStatus]:
    return {task.id: task.status for task in board.list_tasks(team_id)}


# Adding tasks


def test_tasks_get_ids_in_order_and_start_pending_or_blocked(
    board: TaskBoard, team_id: int
) -> None:
    added = board.add_tasks(
        team_id,
        [
            TaskSpec(content=" write the parser ", priority="high"),
            TaskSpec(content="test the parser", depends_on=["t1"]),
        ],
        created_by="lead",
    )
    assert [(t.id, t.status, t.depends_on) for t in added] == [
        ("t1", TaskStatus.PENDING, []),
        ("t2", TaskStatus.BLOCKED, ["t1"]),
    ]
    assert (added[0].content, added[0].priority, added[0].created_by) == (
        "write the parser",
        TaskPriority.HIGH,
        "lead",
    )
    more = board.add_tasks(team_id, specs(("docs", ["t2", "t4"]), ("examples", [])))
    assert [(t.id, t.status) for t in more] == [
        ("t3", TaskStatus.BLOCKED),
        ("t4", TaskStatus.PENDING),
    ]


def test_a_task_depending_only_on_completed_work_is_pending(board: TaskBoard, team_id: int) -> None:
    board.add_tasks(team_id, specs(("a", [])))
    board.claim(team_id, "t1", "alice")
    board.complete(team_id, "t1", "alice")
    (task,) = board.add_tasks(team_id, specs(("b", ["t1"])))
    assert task.status is TaskStatus.PENDING


@pytest.mark.parametrize(
    ("batch", "error"),
    [
        ([], "No tasks were given"),
        (
            specs(("a", ["t9"])),
            r"Task 2 of the list \(would be t4\) depends on 't9', which does not exist\. "
            r"Existing task ids: t1, t2; the tasks of this call would get t3 to t4\.",
        ),
        (specs(("a", ["t4"])), "Task t4 depends on itself"),
        (
            specs(("a", ["t6"]), ("b", ["t4"]), ("c", ["t5"])),
            r"in a cycle, so none could ever start: t4 -> t6 -> t5 -> t4",
        ),
        (specs(("   ", [])), r"Task 2 of the list \(would be t4\) has no content"),
        (specs(("x" * 2001, [])), "is 2001 characters long; the limit is 2000"),
        (
            [TaskSpec(content="a", priority="urgent")],
            "priority 'urgent'; use one of high, medium, low",
        ),
        (specs(("a", ["t2"])), "depends on t2, which was cancelled"),
    ],
)
def test_bad_batches_change_nothing(
    board: TaskBoard, team_id: int, db_path: Path, batch: list[TaskSpec], error: str
) -> None:
    board.add_tasks(team_id, specs(("first", []), ("second", [])))
    board.cancel(team_id, "t2")
    before = dump(db_path)
    with pytest.raises(TaskBoardError, match=error):
        board.add_tasks(team_id, [*specs(("fine", [])), *batch] if batch else batch)
    assert dump(db_path) == before


def test_every_problem_of_a_batch_is_named_at_once(board: TaskBoard, team_id: int) -> None:
    with pytest.raises(TaskBoardError) as caught:
        board.add_tasks(team_id, [TaskSpec(content=""), TaskSpec(content="b", priority="meh")])
    assert "Task 1 of the list (would be t1) has no content" in str(caught.value)
    assert "Task 2 of the list (would be t2) has priority 'meh'" in str(caught.value)


def test_a_batch_may_depend_on_its_own_later_tasks(board: TaskBoard, team_id: int) -> None:
    added = board.add_tasks(team_id, specs(("integrate", ["t2", "t3"]), ("api", []), ("ui", [])))
    assert [t.status for t in added] == [TaskStatus.BLOCKED, TaskStatus.PENDING, TaskStatus.PENDING]


def test_unknown_creators_and_archived_teams_are_refused(
    store: Store, board: TaskBoard, team_id: int
) -> None:
    with pytest.raises(TaskBoardError, match="no member named 'zed'"):
        board.add_tasks(team_id, specs(("a", [])), created_by="zed")
    store.archive_team(team_id)
    with pytest.raises(TaskBoardError, match="archived"):
        board.add_tasks(team_id, specs(("a", [])))


# Claiming


def test_claiming_sets_the_assignee_and_the_members_current_task(
    store: Store, board: TaskBoard, team_id: int
) -> None:
    board.add_tasks(team_id, specs(("a", [])))
    task = board.claim(team_id, " T1 ", "alice")
    assert (task.status, task.assignee) == (TaskStatus.IN_PROGRESS, "alice")
    alice = store.get_member(team_id, "alice")
    assert alice is not None
    assert alice.current_task_id == "t1"


@pytest.mark.parametrize(
    ("task_id", "member", "error"),
    [
        ("t9", "alice", r"There is no task 't9' on this team's board; task ids: t1, t2, t3, t4\."),
        ("t1", "alice", "Task t1 is already yours"),
        ("t1", "bob", "Task t1 is already claimed by alice"),
        ("t2", "bob", r"Task t2 is blocked: it waits for t1 \(in_progress\) to be completed"),
        ("t3", "bob", "Task t3 is already completed"),
        ("t4", "bob", "Task t4 was cancelled"),
        ("t2", "zed", "no member named 'zed'"),
    ],
)
def test_unclaimable_tasks_are_explained_and_change_nothing(
    board: TaskBoard, team_id: int, db_path: Path, task_id: str, member: str, error: str
) -> None:
    board.add_tasks(team_id, specs(("a", []), ("b", ["t1"]), ("c", []), ("d", [])))
    board.claim(team_id, "t1", "alice")
    board.claim(team_id, "t3", "bob")
    board.complete(team_id, "t3", "bob")
    board.cancel(team_id, "t4")
    before = dump(db_path)
    with pytest.raises(TaskBoardError, match=error):
        board.claim(team_id, task_id, member)
    assert dump(db_path) == before


def test_members_that_have_shut_down_cannot_claim(
    store: Store, board: TaskBoard, team_id: int
) -> None:
    board.add_tasks(team_id, specs(("a", [])))
    store.update_member(team_id, "bob", MemberUpdate(status=MemberStatus.SHUT_DOWN))
    with pytest.raises(TaskBoardError, match="'bob' has shut-down and cannot claim"):
        board.claim(team_id, "t1", "bob")


def _race(claim: Callable[[str, str], object], task_id: str) -> list[str]:
    """Let CLAIMERS threads claim one task at the same moment; return who won."""
    start = threading.Barrier(CLAIMERS)
    winners: list[str] = []
    refusals: list[str] = []

    def attempt(member: str) -> None:
        start.wait()
        try:
            claim(task_id, member)
        except TaskBoardError as error:
            refusals.append(str(error))
        else:
            winners.append(member)

    threads = [threading.Thread(target=attempt, args=(f"m{i}",)) for i in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(refusals) == CLAIMERS - len(winners)
    assert all(f"Task {task_id} is already" in refusal for refusal in refusals)
    return winners


def test_threads_sharing_one_store_claim_a_task_exactly_once(
    board: TaskBoard, team_id: int
) -> None:
    board.add_tasks(team_id, [TaskSpec(content=f"task {i}") for i in range(CLAIM_TRIALS)])
    for number in range(1, CLAIM_TRIALS + 1):
        task_id = f"t{number}"
        winners = _race(lambda task, member: board.claim(team_id, task, member), task_id)
        assert len(winners) == 1
        task = board.get_task(team_id, task_id)
        assert task is not None
        assert task.assignee == winners[0]


def test_two_stores_on_one_file_claim_a_task_exactly_once(
    board: TaskBoard, team_id: int, db_path: Path
) -> None:
    board.add_tasks(team_id, [TaskSpec(content=f"task {i}") for i in range(CLAIM_TRIALS)])
    with Store(db_path) as second_store:
        boards = [board, TaskBoard(second_store)]
        for number in range(1, CLAIM_TRIALS + 1):
            task_id = f"t{number}"
            winners = _race(
                lambda task, member: boards[int(member[1:]) % 2].claim(team_id, task, member),
                task_id,
            )
            assert len(winners) == 1


# Completing, releasing, cancelling


def test_completing_the_last_dependency_unblocks_a_task(board: TaskBoard, team_id: int) -> None:
    board.add_tasks(team_id, specs(("api", []), ("ui", [])), created_by="alice")
    board.add_tasks(team_id, specs(("integrate", ["t1", "t2"])), created_by="lead")
    board.claim(team_id, "t1", "alice")
    board.claim(team_id, "t2", "bob")
    first = board.complete(team_id, "t1", "alice", result="api done")
    assert (first.task.status, first.task.result) == (TaskStatus.COMPLETED, "api done")
    assert (first.unblocked, first.waiting) == ([], [])
    assert statuses(board, team_id)["t3"] is TaskStatus.BLOCKED
    second = board.complete(team_id, "t2", "bob")
    assert [t.id for t in second.unblocked] == ["t3"]
    assert second.unblocked[0].status is TaskStatus.PENDING
    assert second.waiting == ["lead"]
    assert board.claim(team_id, "t3", "alice").assignee == "alice"


@pytest.mark.parametrize(
    ("task_id", "member", "error"),
    [
        ("t1", "bob", "Task t1 is claimed by alice; only they can complete it"),
        ("t2", "alice", "Task t2 is pending; claim it before completing it"),
        ("t3", "alice", "Task t3 is blocked"),
        ("t7", "alice", "There is no task 't7'"),
    ],
)
def test_only_the_assignee_completes_an_in_progress_task(
    board: TaskBoard, team_id: int, db_path: Path, task_id: str, member: str, error: str
) -> None:
    board.add_tasks(team_id, specs(("a", []), ("b", []), ("c", ["t1"])))
    board.claim(team_id, "t1", "alice")
    before = dump(db_path)
    with pytest.raises(TaskBoardError, match=error):
        board.complete(team_id, task_id, member)
    assert dump(db_path) == before


def test_a_departing_member_releases_its_tasks(
    store: Store, board: TaskBoard, team_id: int
) -> None:
    board.add_tasks(team_id, specs(("a", []), ("b", []), ("c", [])))
    for task_id in ("t1", "t2", "t3"):
        board.claim(team_id, task_id, "alice")
    board.complete(team_id, "t3", "alice")
    released = board.release_member_tasks(team_id, "alice")
    assert [(t.id, t.status, t.assignee) for t in released] == [
        ("t1", TaskStatus.PENDING, None),
        ("t2", TaskStatus.PENDING, None),
    ]
    assert statuses(board, team_id)["t3"] is TaskStatus.COMPLETED
    alice = store.get_member(team_id, "alice")
    assert alice is not None
    assert alice.current_task_id is None
    assert board.claim(team_id, "t1", "bob").assignee == "bob"


def test_a_task_others_wait_on_cannot_be_cancelled(
    board: TaskBoard, team_id: int, db_path: Path
) -> None:
    board.add_tasks(team_id, specs(("a", []), ("b", ["t1"])))
    before = dump(db_path)
    with pytest.raises(
        TaskBoardError, match="t1 cannot be cancelled while unfinished tasks depend on it: t2"
    ):
        board.cancel(team_id, "t1")
    assert dump(db_path) == before
    assert board.cancel(team_id, "t2").status is TaskStatus.CANCELLED
    assert board.cancel(team_id, "t1").status is TaskStatus.CANCELLED
    with pytest.raises(TaskBoardError, match="Task t1 is already cancelled"):
        board.cancel(team_id, "t1")


def test_the_board_is_ordered_by_status_then_priority_then_id(
    board: TaskBoard, team_id: int
) -> None:
    board.add_tasks(team_id, [TaskSpec(content=f"task {i}", priority="low") for i in range(10)])
    board.add_tasks(team_id, [TaskSpec(content="urgent", priority="high")])
    board.add_tasks(team_id, specs(("later", ["t1"])))
    board.claim(team_id, "t2", "alice")
    order = [task.id for task in board.list_tasks(team_id)]
    assert order == ["t2", "t11", "t1", *[f"t{n}" for n in range(3, 11)], "t12"]
