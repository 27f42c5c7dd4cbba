"""Reviews before merge: the real OpenCode, the scripted model, a real check, real git.

Carl's branch passes the check; the reviewer (the `build` agent, made read-only) reads his file
and asks for changes. Carl is told the reasons and the lead's merge is refused naming
them; Carl fixes it, his new commit passes the check, the reviewer approves, the merge
goes through, and the report shows the review. The reviewer may call no team tool but
team_review, and Carl may not call team_review.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from pathlib import Path

import httpx
import pytest

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.store.reviews import Verdict
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import ReviewStarted, TeamEvent
from ensemble_tui.core.team.finishing import merge_member
from ensemble_tui.core.team.recovery import resume_team
from ensemble_tui.core.team.report import build_report
from ensemble_tui.core.team.review import ASK_AGAIN, ReviewerUnavailable
from ensemble_tui.demo.scenarios import tool, write_and_commit
from ensemble_tui.demo.script import script_block
from ensemble_tui.demo.scripted_model import MODEL_ID, PROVIDER_ID, ScriptedModel
from ensemble_tui.headless import drive_team
from ensemble_tui.opencode.client import OpenCodeClient, OpenCodeError
from ensemble_tui.opencode.models import AssistantMessage, ModelRef, TextPart
from tests.conftest import TEAM, Holds, TeamOptions, git, running_team

REASON = "app.txt still says BROKEN; it must say FIXED"
FIX_NOW = "fix it now"
# A reviewer is listed team_review only, so OpenCode itself refuses any other team tool.
NOT_FOR_REVIEWER = "unavailable tool 'ensemble_team_status'"


def reviewer_script(worktree: Path) -> str:
    """What the reviewer plays (the same in both reviews): it tries to write a file and run
    a command in Carl's worktree, and another team tool (going on only once refused),
    reads Carl's file there, then asks for changes while the file is broken and approves
    once it is fixed."""
    return script_block(
        tool("write", filePath=str(worktree / "reviewer-wrote.txt"), content="no\n"),
        tool("bash", command=f"touch {worktree / 'reviewer-ran.txt'}", description="try"),
        tool("ensemble_team_status"),
        {"await": NOT_FOR_REVIEWER, **tool("read", filePath=str(worktree / "app.txt"))},
        {
            "skip_if": "FIXED-v2",
            **tool("ensemble_team_review", verdict="request_changes", reasons=REASON),
        },
        {"skip_if": "BROKEN-v1", **tool("ensemble_team_review", verdict="approve")},
        {"text": "Reviewed."},
    )


def carl_script(worktree: Path) -> str:
    """Carl commits a broken file and completes t1 (his result carries the reviewer's
    script); told of the changes and by the lead, he fixes it."""
    return script_block(
        tool("ensemble_team_claim", task_id="t1"),
        *write_and_commit("carl", "app.txt", "BROKEN-v1\n"),
        tool("ensemble_team_review", verdict="approve"),
        tool(
            "ensemble_team_tasks_complete",
            task_id="t1",
            result="app.txt written\n" + reviewer_script(worktree),
        ),
        {"text": "t1 is done."},
        {
            "await": ["asked for changes", FIX_NOW],
            **write_and_commit("carl", "app.txt", "FIXED-v2\n")[0],
        },
        write_and_commit("carl", "app.txt", "FIXED-v2\n")[1],
        {"text": "fixed"},
    )


def lead_start(worktree: Path) -> str:
    return script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_tasks_add", tasks=[{"content": "Write app.txt"}]),
        tool("ensemble_team_spawn", name="carl", prompt="Do t1.\n" + carl_script(worktree)),
        {"text": "carl is at work."},
    )


def lead_merges() -> str:
    return script_block(
        tool("ensemble_team_merge", member="carl"),
        tool("ensemble_team_message", to="carl", text=f"The reviewer is right: {FIX_NOW}."),
        {"text": "waiting for carl"},
    )


async def transcript_text(coord: Coordinator, member: str) -> str:
    state = coord.session_of(member)
    assert state is not None
    messages = await coord.client.messages(state.session_id, state.directory)
    return json.dumps([m.model_dump(mode="json") for m in messages])


async def test_changes_requested_reach_the_teammate_block_the_merge_and_an_approval_lets_it_through(
    git_repo: Path, team_options: TeamOptions
) -> None:
    worktree = (git_repo.parent / "worktrees").resolve() / TEAM / "carl"
    events: list[TeamEvent] = []
    # `build` may edit and run commands: only the reviewer's own rules keep it read-only.
    options = team_options(check="test -f app.txt", review_agent="build", review_timeout=120)
    async with running_team(options) as coord:
        coord.feed.subscribe(events.append)
        await drive_team(coord, lead_start(worktree), 120)
        team = coord.require_team()
        (first,) = coord.store.reviews.list_reviews(team.id)
        assert first.verdict is Verdict.CHANGES_REQUESTED
        assert first.reasons == REASON
        told = await transcript_text(coord, "carl")
        assert "The reviewer (build) asked for changes" in told
        assert REASON in told
        # A teammate is not listed team_review: OpenCode refuses it before we hear of it.
        assert "unavailable tool 'ensemble_team_review'" in told

        lead = coord.lead
        assert lead is not None
        await coord.prompt(lead, lead_merges())
        await coord.wait_until_settled(limit=120)
        said_to_lead = await transcript_text(coord, "lead")
        first_done, second = coord.store.reviews.list_reviews(team.id)
        assert second.verdict is Verdict.APPROVED
        assert second.commit_sha != first.commit_sha

        written = sorted(path.name for path in worktree.glob("reviewer-*"))
        carl = coord.require_member("carl")
        merged = await merge_member(coord, team, carl)
        built = await build_report(coord, team, "done")
        spent = sum(review.tokens for review in coord.store.reviews.list_reviews(team.id))
        # Asked through the repository's (warm) folder: OpenCode finds a session by its id
        # from any folder, and a folder of its own would cost it an instance to start.
        for review in (first_done, second):
            assert review.session_id is not None
            with pytest.raises(OpenCodeError):
                await coord.client.get_session(review.session_id, str(git_repo))

    assert "The merge of carl is refused because the reviewer (build) asked for changes" in (
        said_to_lead
    )
    assert REASON in said_to_lead
    assert "Merged carl" in merged
    assert (git_repo / "app.txt").read_text() == "FIXED-v2\n"
    assert "app.txt" in git(git_repo, "status", "--porcelain")
    assert f"- review: build approved on {second.commit_sha[:8]}" in built.markdown()
    # The reviewers' tokens are no member's, but they count in the team's totals.
    assert spent > 0
    assert built.tokens == sum(member.tokens for member in built.members) + spent
    kinds = [event.type for event in events if event.member == "carl"]
    wanted = [
        "check.passed",
        "review.started",
        "review.changes_requested",
        "merge.blocked",
        "check.passed",
        "review.started",
        "review.approved",
        "member.merged",
    ]
    found = [kind for kind in kinds if kind in wanted]
    assert found == wanted
    # The reviewer changed nothing: its write and its command were refused.
    assert written == []
    assert not (git_repo / "reviewer-wrote.txt").exists()
    assert not (git_repo / "reviewer-ran.txt").exists()
    # No reviewer folder is left behind.
    assert not list((git_repo.parent / "worktrees").resolve().glob(f"{TEAM}/.review-*"))


async def test_a_reviewer_that_gives_no_verdict_is_asked_once_more_then_blocks_the_merge(
    team_options: TeamOptions, scripted_model: ScriptedModel
) -> None:
    silent = script_block({"text": "Looks fine to me."}, {"text": "Still fine."})
    carl = script_block(
        tool("ensemble_team_claim", task_id="t1"),
        *write_and_commit("carl", "notes.txt", "notes\n"),
        tool("ensemble_team_tasks_complete", task_id="t1", result="notes\n" + silent),
        {"text": "t1 is done."},
    )
    lead = script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_tasks_add", tasks=[{"content": "Write notes.txt"}]),
        tool("ensemble_team_spawn", name="carl", prompt="Do t1.\n" + carl),
        {"text": "carl is at work."},
    )
    # No check is set: the review follows the completion itself.
    async with running_team(team_options(review_agent="plan")) as coord:
        await drive_team(coord, lead, 120)
        team = coord.require_team()
        (review,) = coord.store.reviews.list_reviews(team.id)
        carl_member = coord.require_member("carl")
        with pytest.raises(Refused, match="gave no verdict") as refused:
            await merge_member(coord, team, carl_member)
        merged = await merge_member(coord, team, carl_member, override=True)
    assert review.verdict is Verdict.NO_VERDICT
    assert "ended its turn twice without calling team_review" in review.reasons
    assert "The merge of carl is refused because the review" in str(refused.value)
    asked = [r for r in scripted_model.requests if r["last_user"].startswith(ASK_AGAIN[:40])]
    assert asked, "the reviewer was asked once more for its verdict"
    assert "Merged carl" in merged


class MissingFolderWatch(httpx.AsyncBaseTransport):
    """The real transport, noting each request that names a folder missing when it is sent."""

    def __init__(self) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.named: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        folder = request.url.params.get("directory")
        if folder is not None and not await asyncio.to_thread(Path(folder).is_dir):
            self.named.append(f"{request.method} {request.url.path} {folder}")
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


def reviewed_once_released(hold: str, member: str = "carl") -> str:
    """The lead's script: team TEAM with one task, which *member* does; the reviewer
    answers (approves) only once the model's *hold* is released."""
    slow = script_block({"hold": hold, **tool("ensemble_team_review", verdict="approve")})
    work = script_block(
        tool("ensemble_team_claim", task_id="t1"),
        *write_and_commit(member, f"{member}.txt", f"{member}\n"),
        tool("ensemble_team_tasks_complete", task_id="t1", result=f"{member}\n" + slow),
        {"text": "t1 is done."},
    )
    return script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_tasks_add", tasks=[{"content": f"Write {member}.txt"}]),
        tool("ensemble_team_spawn", name=member, prompt="Do t1.\n" + work),
        {"text": f"{member} is at work."},
    )


async def first_review_started(coord: Coordinator, lead: str) -> ReviewStarted:
    """Prompt the lead with *lead* and wait for the first review to start."""
    started: asyncio.Queue[TeamEvent] = asyncio.Queue()
    coord.feed.subscribe(
        lambda event: started.put_nowait(event) if event.type == "review.started" else None
    )
    await coord.prompt(await coord.start_lead(), lead)
    first = await asyncio.wait_for(started.get(), 120)
    assert isinstance(first, ReviewStarted)
    return first


async def test_a_review_cut_short_by_a_stop_is_done_again_when_the_team_is_resumed(
    team_options: TeamOptions, holds: Holds
) -> None:
    # The reviewer answers only once ensemble-tui has stopped (the model holds it): the
    # first review is cut short, the one after the resume answers at once.
    stopped = holds.new("ensemble-stopped")
    lead = reviewed_once_released(stopped)
    options = team_options(review_agent="build")
    async with running_team(options) as coord:
        first = await first_review_started(coord, lead)
        team = coord.require_team()
    holds.release(stopped)
    missing = MissingFolderWatch()
    async with (
        running_team(options) as coord,
        OpenCodeClient(
            coord.client.base_url, password=coord.client.password, transport=missing
        ) as watched,
    ):
        real, coord.client = coord.client, watched
        try:
            notes = await resume_team(coord, team)
            await coord.wait_until_settled(limit=120)
        finally:
            coord.client = real
        cut, again = coord.store.reviews.list_reviews(team.id)
        with pytest.raises(OpenCodeError):
            await coord.client.get_session(str(first.session), str(coord.repo_root))
    # The cut review's folder went with its session when ensemble-tui stopped; the resume
    # named it to OpenCode (deleting that session again), which made OpenCode start an
    # instance for a missing folder: one that stays broken if a reviewer gets that path.
    assert missing.named == []
    assert notes == ["carl: its review was cut short; it is reviewed again"]
    assert cut.verdict is Verdict.NO_VERDICT
    assert cut.reasons == "cut short when ensemble-tui stopped"
    assert again.verdict is Verdict.APPROVED
    assert again.commit_sha == cut.commit_sha


async def test_a_review_stopped_as_its_turn_begins_leaves_its_folder_usable_by_a_later_one(
    team_options: TeamOptions, holds: Holds, tmp_path: Path
) -> None:
    """Review ids start again in each store, so the next team of that name (or another
    run) gets the same reviewer folder. OpenCode starts some services of a folder's
    instance only with its first turn, and they go on after an abort; one that ran after
    the stop had removed the folder failed, and OpenCode kept the failure for that path: a
    session in the folder made again there never had its turn answered. The stop has
    OpenCode drop the instance (after the session, before the folder)."""
    # Three rounds, each a team of its own (its own store) whose reviewer gets a folder no
    # other test uses: the rounds' teammates are alice, bob and dina (only carl's work is
    # reviewed elsewhere), so their worktrees are the pooled warm ones and only the
    # reviewer's folder is new. (Without the drop: with one round 2 runs of 7 failed; with
    # three, 4 of 4 did, each at the later session's turn. With it: 3 of 3 passed.)
    for round_, member in enumerate(("alice", "bob", "dina")):
        await stop_as_the_review_begins_then_use_its_folder(
            team_options, holds, tmp_path / f"state-{round_}.db", member
        )


async def stop_as_the_review_begins_then_use_its_folder(
    team_options: TeamOptions, holds: Holds, store: Path, member: str
) -> None:
    stopped = holds.new(f"ensemble-stopped-{member}")
    lead = reviewed_once_released(stopped, member)
    options = dataclasses.replace(team_options(review_agent="build"), store_path=store)
    try:
        async with running_team(options) as coord:
            first = await first_review_started(coord, lead)
            folder = coord.worktree_root.resolve() / TEAM / f".review-{member}-1"
            # ensemble-tui stops as soon as the reviewer's turn is under way.
            async with asyncio.timeout(30):
                while True:
                    if str(first.session) in await coord.client.statuses(str(folder)):
                        break
                    await asyncio.sleep(0.01)
        assert not folder.exists()
    finally:
        holds.release(stopped)
    # A later review in the same folder (a bare session here, as a reviewer's would be).
    folder.mkdir(parents=True)
    async with running_team(options) as coord:
        client = coord.client
        session = await client.create_session(str(folder), title="the next review")
        said = f"{member}'s work reviewed again"
        model = ModelRef.parse(f"{PROVIDER_ID}/{MODEL_ID}")
        text = script_block({"text": said})
        await client.prompt_async(session.id, str(folder), text, agent="build", model=model)
        async with asyncio.timeout(60):
            while True:
                messages = await client.messages(session.id, str(folder))
                answers = [m.info for m in messages if isinstance(m.info, AssistantMessage)]
                if any(a.error is not None or a.time.completed for a in answers):
                    break
                await asyncio.sleep(0.1)
        assert [a.error for a in answers] == [None], member
        texts = [p.text for m in messages for p in m.parts if isinstance(p, TextPart)]
        assert said in texts, member
        await client.delete_session(session.id, str(folder))
    await asyncio.to_thread(shutil.rmtree, folder)


async def test_an_unknown_review_agent_or_model_is_refused_at_start_with_what_there_is(
    team_options: TeamOptions,
) -> None:
    with pytest.raises(ReviewerUnavailable) as unknown:
        async with running_team(team_options(review_agent="no-such-agent")):
            pass
    assert "review_agent names 'no-such-agent'" in str(unknown.value)
    assert "plan" in str(unknown.value)
    with pytest.raises(ReviewerUnavailable) as unknown:
        async with running_team(team_options(review_agent="plan", review_model="scripted/nope")):
            pass
    assert "review_model names scripted/nope" in str(unknown.value)
    assert f"{PROVIDER_ID}/{MODEL_ID}" in str(unknown.value)


@pytest.fixture(autouse=True)
def _no_user_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Work-in-progress commits must not need the user's git identity."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
