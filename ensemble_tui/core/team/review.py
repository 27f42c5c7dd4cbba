"""Reviews before merge: a read-only reviewer (the `review_agent`) reads a teammate's branch
and answers with team_review: approve, or request changes with reasons.

A review starts when a teammate's check passes (with no check set: when its turn ends with
its tasks completed), for that commit. The reviewer is a session of its own in a folder of
its own, so its team tools carry a token that allows team_review and nothing else; its
rules deny edits, commands and everything but reading, and any request it still makes is
refused. It is prompted with the branch's diff against its base (bounded) and the
teammate's tasks. Changes requested go to the teammate as a message; its next completion
is checked and reviewed again. A reviewer that ends its turn without a verdict is asked
once more; then the review counts as giving none. A merge of a branch whose commit is
not approved is refused, unless the human merges it anyway on the screen.

The reviewer's session is deleted when its review is done and at the team's end. It is no
member: it gets no work or messages, and the watchdog, budgets and continuation do not
see it; its tokens are kept on the review and counted in the report's totals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.git.commands import GitError, open_repo, resolve_commit
from ensemble_tui.core.git.work import commit_diff
from ensemble_tui.core.models import Member, MemberStatus, Team
from ensemble_tui.core.store.reviews import Review, Verdict
from ensemble_tui.core.team.events import (
    MergeBlocked,
    ReviewApproved,
    ReviewChangesRequested,
    ReviewNoVerdict,
    ReviewStarted,
)
from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.errors import EnsembleError
from ensemble_tui.opencode.client import OpenCodeError
from ensemble_tui.opencode.events import Event, PermissionAsked, QuestionAsked
from ensemble_tui.opencode.models import ModelRef, PermissionRule

if TYPE_CHECKING:
    from ensemble_tui.core.team.coordinator import Coordinator

log = logging.getLogger(__name__)

DIFF_CHARS = 60_000
"""The most of a branch's diff a reviewer is sent; it reads the files for the rest."""
DENIED = ("edit", "bash", "task", "todowrite", "question", "webfetch", "websearch", "doom_loop")
READ_ONLY_REFUSAL = (
    "You are a read-only reviewer: you may read files, not change them or run commands. "
    "Give your verdict with team_review."
)
ASK_AGAIN = (
    "You ended your turn without a verdict. Call team_review now, once: verdict 'approve' "
    "or 'request_changes' with your reasons. Nothing else is needed."
)


class ReviewerUnavailable(EnsembleError):
    """`review_agent` or `review_model` names an agent or model OpenCode does not have."""


def reviewer_rules(worktree: Path | None) -> list[PermissionRule]:
    """A reviewer's rules: no edits, commands, sub-agents or questions; reading the
    teammate's worktree is allowed (nothing else outside its own folder)."""
    rules = [PermissionRule(permission=name, pattern="*", action="deny") for name in DENIED]
    rules.append(PermissionRule(permission="external_directory", pattern="*", action="deny"))
    if worktree is not None:
        rules.append(
            PermissionRule(
                permission="external_directory", pattern=f"{worktree}/**", action="allow"
            )
        )
    return rules


def _head(path: Path) -> str:
    return resolve_commit(open_repo(path), "HEAD", "HEAD")


def _bounded(diff: str) -> tuple[str, bool]:
    """The diff, cut at DIFF_CHARS; whether it was cut."""
    if len(diff) <= DIFF_CHARS:
        return diff, False
    return diff[:DIFF_CHARS], True


@dataclass
class _Live:
    """A review whose reviewer session runs now."""

    review: Review
    state: SessionState
    directory: Path
    token: str = ""
    turn_over: asyncio.Event = field(default_factory=asyncio.Event)


class Reviews:
    """Runs the `review_agent` on teammates' branches; one review per member at once."""

    def __init__(self, coordinator: Coordinator) -> None:
        self._coordinator = coordinator
        self._live: dict[str, _Live] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def agent(self) -> str | None:
        """The reviewer's agent, or None when branches are not reviewed."""
        return self._coordinator.settings.review_agent

    def latest(self, team: Team) -> dict[str, Review]:
        """The newest review per member."""
        return self._coordinator.store.reviews.latest_reviews(team.id)

    def _stale(self, review: Review) -> bool:
        """A pending review no reviewer of this run answers (one cut short by a restart)."""
        live = {entry.review.id for entry in self._live.values()}
        return review.verdict is Verdict.PENDING and review.id not in live

    async def check_agent(self) -> None:
        """Refuse a `review_agent` or `review_model` that OpenCode does not have (at start,
        with what it has)."""
        agent = self.agent
        if agent is None:
            return
        coordinator = self._coordinator
        wanted = coordinator.settings.review_model
        directory = str(coordinator.repo_root)
        try:
            agents = await coordinator.client.agents(directory)
            providers = (await coordinator.client.providers(directory)).providers if wanted else []
        except OpenCodeError as error:
            log.warning("could not check the review agent: %s", error)
            return
        usable = sorted(a.name for a in agents if not a.hidden)
        if agent not in usable:
            raise ReviewerUnavailable(
                f"The setting review_agent names {agent!r}, which this OpenCode does not "
                f"have; use one of: {', '.join(usable)} (or an agent you define in "
                "OpenCode's config), or unset review_agent."
            )
        if wanted is None:
            return
        model = ModelRef.parse(wanted)
        provider = next((p for p in providers if p.id == model.provider_id), None)
        if provider is None or model.model_id not in provider.models:
            known = sorted(f"{p.id}/{m}" for p in providers for m in p.models)
            shown = ", ".join(known[:10]) + (
                f" and {len(known) - 10} more" if len(known) > 10 else ""
            )
            raise ReviewerUnavailable(
                f"The setting review_model names {wanted}, which this OpenCode does not have; "
                f"its models: {shown or 'none'}. Set another, or unset review_model."
            )

    # Starting a review

    def request(self, team: Team, member: Member, commit: str) -> None:
        """Review *member*'s branch at *commit* in the background, unless it was (or is)."""
        if self.agent is None or member.branch is None:
            return
        latest = self._coordinator.store.reviews.latest_review(team.id, member.name)
        if latest is not None and latest.commit_sha == commit and not self._stale(latest):
            return
        self._run(team, member.name, commit)

    def _run(self, team: Team, name: str, commit: str, *, again: bool = False) -> None:
        task = asyncio.create_task(
            self._review(team, name, commit, again=again), name=f"review-{name}"
        )
        # Counted from now (not from when it first runs), so the team is never "settled"
        # between a passing check and its review.
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._coordinator.note_change()

    @property
    def running(self) -> bool:
        """Whether a review is under way or waiting for its turn."""
        return bool(self._tasks)

    async def request_current(self, team: Team, member: Member) -> None:
        """Review *member*'s branch as it is now (its work committed first)."""
        path = member.worktree_path
        if self.agent is None or path is None or not path.exists():
            return
        try:
            await self._coordinator.commit_member_work(member, "review")
            head = await asyncio.to_thread(_head, path)
        except GitError as error:
            log.warning("could not review %s's branch: %s", member.name, error)
            return
        self.request(team, member, head)

    async def _review(self, team: Team, name: str, commit: str, *, again: bool = False) -> None:
        coordinator = self._coordinator
        store = coordinator.store
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            latest = store.reviews.latest_review(team.id, name)
            done = latest is not None and latest.commit_sha == commit and not self._stale(latest)
            if done and not again:
                return
            member = store.get_member(team.id, name)
            active = coordinator.team
            if member is None or active is None or active.id != team.id:
                return
            if member.status is MemberStatus.MERGED:
                return
            agent = self.agent
            assert agent is not None
            review = store.reviews.add_review(team.id, name, agent, commit)
            directory = self._folder(team, name, review.id)
            try:
                live = await self._start(team, member, review, directory)
                await self._converse(team, member, live)
            except (EnsembleError, OSError) as error:
                self._conclude(review, Verdict.NO_VERDICT, f"the reviewer could not run: {error}")
            except Exception:
                log.exception("the review of %s failed", name)
                self._conclude(review, Verdict.NO_VERDICT, "the review failed (see the log)")
            finally:
                # Whatever of it was made (a start can fail half-way) goes.
                await asyncio.shield(self._remove(review, directory))

    def _folder(self, team: Team, name: str, review_id: int) -> Path:
        """The reviewer's own folder; a dot first, so no member's folder can be taken.

        One per review, not one per member (which would spare OpenCode an instance per
        review): a folder removed while its instance is still starting its file services
        (a review stopped as it begins) leaves that instance broken, and a later review
        in the same folder would get no answer at all."""
        return self._coordinator.worktree_root.resolve() / team.name / f".review-{name}-{review_id}"

    async def _remove(self, review: Review, directory: Path) -> None:
        for live in [entry for entry in self._live.values() if entry.review.id == review.id]:
            await self._close(live)
        await asyncio.to_thread(shutil.rmtree, directory, True)

    async def _start(self, team: Team, member: Member, review: Review, directory: Path) -> _Live:
        """Create the reviewer's folder, session and token, and give it the team tools."""
        coordinator = self._coordinator
        client = coordinator.client
        agent = review.agent
        settings = coordinator.settings
        chosen = settings.review_model or settings.models_by_agent.get(agent)
        chosen = chosen or settings.default_model
        model = ModelRef.parse(chosen) if chosen else None
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        session = await client.create_session(
            str(directory),
            title=f"review of {member.name} ({team.name})",
            permission=reviewer_rules(member.worktree_path),
        )
        state = SessionState(f"{member.name}'s reviewer", session.id, str(directory), agent, model)
        live = _Live(review, state, directory)
        self._live[session.id] = live
        coordinator.store.reviews.set_session(review.id, session.id)
        live.token = coordinator.tokens.issue(
            state.member, session.id, is_lead=False, team_id=team.id, reviews=member.name
        )
        await coordinator.register_tools(str(directory), live.token)
        coordinator.record(
            ReviewStarted(
                member=member.name, agent=agent, commit=review.commit_sha, session=session.id
            )
        )
        return live

    async def _converse(self, team: Team, member: Member, live: _Live) -> None:
        """Prompt the reviewer, and once more if it ends its turn without a verdict."""
        coordinator = self._coordinator
        client = coordinator.client
        state = live.state
        loop = asyncio.get_running_loop()
        deadline = loop.time() + coordinator.settings.review_timeout
        prompt = await self._prompt_text(team, member, live.review)
        for text in (prompt, ASK_AGAIN):
            live.turn_over.clear()
            state.prompt_sent()
            await client.prompt_async(
                state.session_id, state.directory, text, agent=state.agent, model=state.model
            )
            try:
                async with asyncio.timeout_at(deadline):
                    await live.turn_over.wait()
            except TimeoutError:
                limit = coordinator.settings.review_timeout
                self._conclude(live.review, Verdict.NO_VERDICT, f"no verdict within {limit:g}s")
                return
            if self._answered(live):
                return
        self._conclude(
            live.review,
            Verdict.NO_VERDICT,
            "the reviewer ended its turn twice without calling team_review",
        )

    def _answered(self, live: _Live) -> bool:
        found = self._coordinator.store.reviews.get_review(live.review.id)
        return found is not None and found.verdict is not Verdict.PENDING

    async def _prompt_text(self, team: Team, member: Member, review: Review) -> str:
        coordinator = self._coordinator
        base = member.base_commit or review.commit_sha
        try:
            diff = await asyncio.to_thread(
                commit_diff, coordinator.repo_root, base, review.commit_sha
            )
        except GitError as error:
            diff = f"(the diff could not be read: {error})"
        shown, cut = _bounded(diff)
        cut_note = (
            f" (cut after {DIFF_CHARS:,} of its {len(diff):,} characters: read the files "
            "for the rest)"
            if cut
            else ""
        )
        held = [t for t in coordinator.board.list_tasks(team.id) if t.assignee == member.name]
        tasks = "\n".join(
            f"- {t.id} ({t.status.value}): {t.content}"
            + (f"\n  its result: {t.result}" if t.result else "")
            for t in held
        )
        return (
            f"You review {member.name}'s branch `{member.branch}` at commit "
            f"{review.commit_sha[:8]} (team {team.name}) before it is merged into the user's "
            f"tree. You are read-only: read the files under {member.worktree_path} if the diff "
            "is not enough; you cannot edit them or run commands.\n\n"
            f"{member.name}'s tasks:\n{tasks or '- (none recorded)'}\n\n"
            f"The diff against its base {base[:8]}{cut_note}:\n\n```diff\n{shown}\n```\n\n"
            "Answer by calling team_review once: verdict 'approve' if it can be merged as it "
            "is, or 'request_changes' with reasons that say exactly what must change (they "
            f"are sent to {member.name}). Then end your turn."
        )

    # The reviewer's events and answer

    def follows(self, event: Event) -> bool:
        """Whether *event* belongs to a reviewer's session."""
        return bool(self._live) and _session_id(event) in self._live

    async def handle(self, event: Event) -> None:
        """Fold one event of a reviewer's session: its usage, its turn's end, and a refusal
        of any request it makes (it is read-only and no one is there to answer)."""
        live = self._live.get(_session_id(event) or "")
        if live is None:
            return
        change = live.state.apply(event)
        client = self._coordinator.client
        if change.usage is not None:
            tokens, cost = change.usage
            used = tokens.input + tokens.output + tokens.reasoning
            self._coordinator.store.reviews.add_usage(live.review.id, used, cost)
        try:
            if isinstance(event, PermissionAsked):
                await client.reply_permission(
                    event.request.id, live.state.directory, "reject", READ_ONLY_REFUSAL
                )
            elif isinstance(event, QuestionAsked):
                await client.reject_question(event.request.id, live.state.directory)
        except OpenCodeError as error:
            log.warning("could not refuse the reviewer's request: %s", error)
        if change.turn_ended:
            live.turn_over.set()

    async def answer(self, caller: Caller, verdict: Verdict, reasons: str) -> str:
        """The reviewer's verdict (team_review): stored, told, and changes sent on."""
        live = self._live.get(caller.session_id)
        if live is None or caller.reviews is None:
            raise Refused("This review is over; there is nothing more to answer.")
        if verdict is Verdict.CHANGES_REQUESTED and not reasons.strip():
            raise Refused(
                f"request_changes needs reasons: say what must change, they go to {caller.reviews}."
            )
        done = self._coordinator.store.reviews.finish_review(live.review.id, verdict, reasons)
        if done is None:
            raise Refused("You already gave your verdict on this review; end your turn.")
        self._tell(done)
        if verdict is Verdict.CHANGES_REQUESTED:
            await self._send_changes(done)
            return f"Recorded: changes requested; {caller.reviews} was told. End your turn now."
        return "Recorded: approved. End your turn now."

    def _conclude(self, review: Review, verdict: Verdict, reasons: str) -> None:
        done = self._coordinator.store.reviews.finish_review(review.id, verdict, reasons)
        if done is not None:
            self._tell(done)

    def _tell(self, review: Review) -> None:
        kinds: dict[Verdict, type[ReviewApproved | ReviewChangesRequested | ReviewNoVerdict]] = {
            Verdict.APPROVED: ReviewApproved,
            Verdict.CHANGES_REQUESTED: ReviewChangesRequested,
            Verdict.NO_VERDICT: ReviewNoVerdict,
        }
        kind = kinds.get(review.verdict)
        if kind is not None:
            self._coordinator.record(
                kind(
                    member=review.member,
                    text=review.reasons or None,
                    agent=review.agent,
                    commit=review.commit_sha,
                )
            )

    async def _send_changes(self, review: Review) -> None:
        """Tell the teammate (if still at work) what the reviewer asked for."""
        coordinator = self._coordinator
        team = coordinator.team
        member = coordinator.store.get_member(team.id, review.member) if team else None
        if member is None or member.status.ended:
            return
        coordinator.delivery.notify(
            review.member,
            f"The reviewer ({review.agent}) asked for changes on your branch at "
            f"{review.commit_sha[:8]}:\n\n{review.reasons}\n\nFix them, commit, and complete "
            "your task again (or tell the lead why not); your branch is not merged until a "
            "review approves it.",
        )
        state = coordinator.session_of(review.member)
        if state is not None:
            await coordinator.delivery.deliver_pending(state)

    # The merge gate

    async def merge_blocker(self, team: Team, member: Member, *, start: bool = True) -> str | None:
        """Why *member*'s branch may not be merged for want of an approving review (None:
        it may, or no review is set). With *start*, an unreviewed commit is sent to review."""
        agent = self.agent
        path = member.worktree_path
        if agent is None or path is None or not path.exists():
            return None
        try:
            head = await asyncio.to_thread(_head, path)
        except GitError as error:
            return f"its branch could not be read for review ({error})"
        latest = self._coordinator.store.reviews.latest_review(team.id, member.name)
        at = head[:8]
        if latest is None or latest.commit_sha != head or self._stale(latest):
            if start:
                self.request(team, member, head)
                said = f"a review by {agent} has started"
                return f"its branch at {at} has not been reviewed yet ({said})"
            return f"its branch at {at} has not been reviewed"
        if latest.verdict is Verdict.PENDING:
            return f"the reviewer ({latest.agent}) is still reviewing its branch at {at}"
        if latest.verdict is Verdict.CHANGES_REQUESTED:
            return f"the reviewer ({latest.agent}) asked for changes on {at}: {latest.reasons}"
        if latest.verdict is Verdict.NO_VERDICT:
            return f"the review of its branch at {at} gave no verdict ({latest.reasons})"
        return None

    async def gate_merge(
        self, team: Team, member: Member, *, override: bool, start: bool = True
    ) -> str | None:
        """Refuse (Refused) the merge of a branch not approved by a review, unless the human
        overrides; returns what was overridden (None: nothing)."""
        blocker = await self.merge_blocker(team, member, start=start)
        if blocker is None or override:
            return blocker
        self._coordinator.record(MergeBlocked(member=member.name, text=blocker))
        raise Refused(
            f"The merge of {member.name} is refused because {blocker}.\n\nThe branch "
            f"{member.branch} is kept. It merges once a review approves it (the human can "
            "merge it anyway from the screen)."
        )

    async def resume(self, team: Team) -> list[str]:
        """A resumed team's reviews that were cut short (ensemble-tui stopped before the
        reviewer answered): each ends with no verdict, its session and folder are removed,
        and its commit is reviewed again. Returns a note per review."""
        notes = []
        client = self._coordinator.client
        for review in self.latest(team).values():
            if not self._stale(review):
                continue
            directory = self._folder(team, review.member, review.id)
            self._conclude(review, Verdict.NO_VERDICT, "cut short when ensemble-tui stopped")
            # A folder that is gone went with its session (`_close` deletes the session
            # first); a request naming it would have OpenCode start an instance for a
            # missing folder, which stays broken should a later reviewer get that path.
            if review.session_id is not None and directory.exists():
                with contextlib.suppress(OpenCodeError):
                    await client.delete_session(review.session_id, str(directory))
                await self._coordinator.drop_instance(directory)
            await asyncio.to_thread(shutil.rmtree, directory, True)
            notes.append(f"{review.member}: its review was cut short; it is reviewed again")
            if self.agent is not None:
                self._run(team, review.member, review.commit_sha, again=True)
        return notes

    # Ending

    async def _close(self, live: _Live) -> None:
        """End a reviewer: its token, its session (stopped and deleted), its folder."""
        coordinator = self._coordinator
        coordinator.tokens.revoke(live.token)
        self._live.pop(live.state.session_id, None)
        state = live.state
        try:
            if not state.idle:
                await coordinator.client.abort(state.session_id, state.directory)
            await coordinator.client.delete_session(state.session_id, state.directory)
        except OpenCodeError as error:
            log.warning("could not delete the reviewer session %s: %s", state.session_id, error)
        # Review ids start again in each store, so a later review (another team, another
        # run) may get this very folder: its instance goes before the folder does.
        await coordinator.drop_instance(live.directory)
        await asyncio.to_thread(shutil.rmtree, live.directory, True)

    async def close(self, *, ending: str | None = None) -> None:
        """Stop the reviews under way and delete their sessions. When the team ends
        (*ending* says why) each counts as giving no verdict; when ensemble-tui stops, each
        stays pending, and is done again if the team is resumed (`resume`)."""
        if ending is not None:
            for live in list(self._live.values()):
                self._conclude(live.review, Verdict.NO_VERDICT, ending)
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for live in list(self._live.values()):
            await self._close(live)


def _session_id(event: Event) -> str | None:
    found = getattr(event, "session_id", None)
    if found is None and hasattr(event, "request"):
        found = getattr(event.request, "session_id", None)
    return found if isinstance(found, str) else None
