"""The main screen: the panes, the keys that act on the team, and typed accessors.

The app reaches its panes through this screen rather than through `App.query_one`,
which searches whichever screen is on top (a diff, a confirmation) and would miss them.
The team's keys are the screen's; what each does is its collaborator `TeamActions`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen

from ensemble_tui.core.states import LEAD_NAME, MemberStatus
from ensemble_tui.tui.widgets.outlines import PaneOutlines

# The panes' modules load just after the first frame, which draws their outlines only
# (tests/tui/test_first_frame.py keeps it so); the counting behind the glance and the
# dialogs come with the team.
if TYPE_CHECKING:
    from ensemble_tui.core.team.activity import GlanceSource, TeamGlance
    from ensemble_tui.core.team.read_model import MemberRow
    from ensemble_tui.tui.actions import TeamActions, TeamView
    from ensemble_tui.tui.widgets.activity import ActivityColumn, SpendChart
    from ensemble_tui.tui.widgets.attention import AttentionBar
    from ensemble_tui.tui.widgets.feed import MessageFeed
    from ensemble_tui.tui.widgets.session import PromptBox, SessionPane
    from ensemble_tui.tui.widgets.statusbar import StatusBar
    from ensemble_tui.tui.widgets.taskboard import TaskBoard
    from ensemble_tui.tui.widgets.teammates import TeammateList
    from ensemble_tui.tui.widgets.timeline import Timeline
    from ensemble_tui.tui.widgets.transcript import Transcript


class MainScreen(Screen[None]):
    """The team list (with each member's activity) on top, the timeline and the spend
    chart under it; the
    session pane beside the tasks and messages; the attention line and the status bar at
    the bottom."""

    # The team's keys keep their `app.` ids, which the users' keymaps name.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next_attention", "Next waiting", id="app.next"),
        Binding("a", "allow_once", "Allow once", id="app.allow_once"),
        Binding("A", "allow_always", "Allow always", id="app.allow_always"),
        Binding("r", "reject", "Reject", id="app.reject"),
        Binding("d", "diff", "Diff", id="app.diff"),
        Binding("m", "merge", "Merge", id="app.merge"),
        Binding("x", "shutdown", "Shut down", id="app.shutdown"),
        Binding("S", "abort", "Stop turn", id="app.abort"),
        Binding("C", "cleanup", "Clean up", id="app.cleanup"),
        Binding("o", "open_in_opencode", "Open in OpenCode", id="app.open"),
        Binding("R", "report", "Report", id="app.report"),
        Binding("p", "pause", "Pause", id="app.pause"),
        Binding("u", "until_done", "Until done", id="app.until_done"),
        Binding("f", "fork", "Fork", id="app.fork"),
        Binding("F", "fork_many", "Fork N ways", id="app.fork_many"),
        Binding("K", "compare_forks", "Compare forks, keep one", id="app.compare"),
        Binding("H", "handoff", "Hand off", id="app.handoff"),
        Binding("P", "earlier_sessions", "Earlier sessions", id="app.earlier"),
        Binding("t", "toggle_timeline", "Timeline", id="main.timeline"),
    ]

    # The panes, set as they are mounted (before `Ready`).
    teammates: TeammateList
    activity: ActivityColumn
    timeline: Timeline
    spend: SpendChart
    session: SessionPane
    transcript: Transcript
    prompt: PromptBox
    tasks: TaskBoard
    messages: MessageFeed
    attention: AttentionBar
    status: StatusBar

    def __init__(
        self, team: TeamView, panes_mounted: Callable[[], None], *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.team = team
        self.panes_mounted = panes_mounted
        """Called once the panes are mounted, before they are drawn: the app fills them
        (and keys pressed until now are handled)."""
        self.panes_ready = False
        """Whether the panes are mounted."""
        self._mounting = False
        self.glance: TeamGlance | None = None
        """What the sparklines draw; made for the first coordinator shown (a test may
        give one that has counted already)."""

    def compose(self) -> ComposeResult:
        yield PaneOutlines(Content.assemble((LEAD_NAME, "bold")), drawn=self._mount_panes)

    def on_mount(self) -> None:
        # In case the outlines are never drawn (a terminal of no size): once idle.
        self.call_after_refresh(self._mount_panes)

    async def _mount_panes(self) -> None:
        """Put the panes in place of their outlines, as soon as the first frame is drawn
        (not once the screen is idle: in a headless terminal, and in some real ones, its
        size is corrected a few times first, each a layout the panes need not wait for)."""
        if self._mounting:
            return
        self._mounting = True
        from textual.containers import Horizontal, Vertical

        from ensemble_tui.tui.widgets.activity import ActivityColumn, SpendChart
        from ensemble_tui.tui.widgets.attention import AttentionBar
        from ensemble_tui.tui.widgets.feed import MessageFeed
        from ensemble_tui.tui.widgets.session import PromptBox, SessionPane
        from ensemble_tui.tui.widgets.statusbar import StatusBar
        from ensemble_tui.tui.widgets.taskboard import TaskBoard
        from ensemble_tui.tui.widgets.teammates import TeammateList
        from ensemble_tui.tui.widgets.timeline import Timeline
        from ensemble_tui.tui.widgets.transcript import Transcript

        self.teammates = TeammateList(id="teammates")
        self.activity = ActivityColumn(id="activity")
        self.timeline = Timeline(id="timeline")
        self.spend = SpendChart(id="spend")
        self.session = SessionPane(id="session")
        self.tasks = TaskBoard(id="tasks")
        self.messages = MessageFeed(id="messages")
        self.attention = AttentionBar(id="attention")
        self.status = StatusBar(id="status")
        outlines = self.query_one(PaneOutlines)
        with self.app.batch_update():
            await self.mount_all(
                [
                    Horizontal(self.teammates, self.activity, id="team"),
                    Horizontal(self.timeline, self.spend, id="glance"),
                    Horizontal(
                        self.session, Vertical(self.tasks, self.messages, id="side"), id="main"
                    ),
                    self.attention,
                    self.status,
                ],
                before=outlines,
            )
            await outlines.remove()
            try:
                self.transcript = self.session.query_one(Transcript)
                self.prompt = self.session.query_one(PromptBox)
            except NoMatches:
                return  # The app closed while they were mounted: nothing to show.
            self.panes_ready = True
            # In the same batch: the first frame with the panes shows them filled, and
            # costs one layout, not one for the empty panes and one more once filled.
            self.panes_mounted()

    @cached_property
    def actions(self) -> TeamActions:
        """What the team's keys do: made when first asked (by a key, once the panes are
        there), with its module and the dialogs it opens, which the full screen need not
        wait for."""
        from ensemble_tui.tui.actions import TeamActions

        return TeamActions(self, self.team)

    def on_unmount(self) -> None:
        if self.glance is not None:
            self.glance.close()

    def attach_glance(self, coordinator: GlanceSource) -> None:
        """Start counting the activity and following the events of *coordinator*."""
        from ensemble_tui.core.team.activity import TeamGlance

        if self.glance is None or self.glance.coordinator is not coordinator:
            if self.glance is not None:
                self.glance.close()
            self.glance = TeamGlance(coordinator)

    def show_glance(self, rows: list[MemberRow], now: datetime, *, counts: bool = True) -> None:
        """Refresh the activity sparklines, the timeline and the spend chart. Without
        *counts* (at each batch of the stream), the timeline only, and the sparklines
        only if other members are beside the list: their counts (per 5 s) drawn at each
        batch would redraw them all many times a second for nothing the eye can tell
        (the clock's tick draws them every second)."""
        from ensemble_tui.core.team.activity import QUIET_AFTER_SECONDS
        from ensemble_tui.tui.widgets.activity import ActivityLine

        glance = self.glance
        if glance is None:
            return
        beside = rows[round(self.teammates.scroll_y) :]
        if not counts and [row.name for row in beside] == self.activity.names:
            self.timeline.show(glance.events)
            return
        tokens, cost = sum(row.tokens for row in rows), sum(row.cost for row in rows)
        glance.spend.note(tokens, cost, now)
        lines = []
        for row in rows:
            quiet_for = glance.activity.quiet_for(row.name, now)
            quiet = (
                row.status is MemberStatus.WORKING
                and quiet_for is not None
                and quiet_for >= QUIET_AFTER_SECONDS
            )
            lines.append(ActivityLine(row.name, glance.activity.series(row.name, now), quiet))
        # Row for row with the list, also when the list has scrolled.
        self.activity.show(lines[round(self.teammates.scroll_y) :])
        self.timeline.show(glance.events)
        self.spend.show(glance.spend.tokens(now), tokens, cost)

    # The team's keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.panes_ready:
            return False  # Until the panes are there (the keys wait for them).
        if action == "toggle_timeline":
            return True
        return self.actions.can(action)

    def action_next_attention(self) -> None:
        """Show the next member with a request waiting for the human."""
        team = self.team
        waiting = [row.name for row in team.rows if row.needs_human]
        if not waiting:
            return
        after = waiting.index(team.shown) + 1 if team.shown in waiting else 0
        name = waiting[after % len(waiting)]
        self.teammates.select(name)
        team.show_member(name)

    def action_allow_once(self) -> None:
        self.actions.allow_once()

    def action_allow_always(self) -> None:
        self.actions.allow_always()

    def action_reject(self) -> None:
        self.actions.reject()

    def action_diff(self) -> None:
        if self.team.selected is not None:
            self.actions.diff(self.team.selected)

    def action_merge(self) -> None:
        if self.team.selected is not None:
            self.actions.preview_merge(self.team.selected)

    def action_shutdown(self) -> None:
        self.actions.shutdown(self.team.selected)

    def action_cleanup(self) -> None:
        self.actions.cleanup()

    def action_abort(self) -> None:
        self.actions.abort(self.team.shown)

    def action_fork(self) -> None:
        self.actions.fork(self.actions.fork_source(), many=False)

    def action_fork_many(self) -> None:
        self.actions.fork(self.actions.fork_source(), many=True)

    def action_handoff(self) -> None:
        self.actions.handoff(self.actions.fork_source())

    def action_compare_forks(self) -> None:
        if self.team.selected is not None:
            self.actions.compare_forks(self.team.selected)

    def action_earlier_sessions(self) -> None:
        self.actions.earlier_sessions(self.team.shown)

    async def action_open_in_opencode(self) -> None:
        await self.actions.open_in_opencode(self.team.shown)

    def action_pause(self) -> None:
        """Pause the team (no new prompts), or lift the pause."""
        self.actions.run("Pause", lambda c: c.toggle_pause())

    def action_until_done(self) -> None:
        """Turn until-done mode on or off."""
        self.actions.run("Until done", lambda c: _said(c.toggle_until_done()))

    def action_report(self) -> None:
        """Show the report of the last team that ended."""
        self.actions.show_report()

    def on_team_actions_finished(self, message: TeamActions.Finished) -> None:
        from ensemble_tui.tui.screens.confirm import ConfirmScreen

        if message.unsent and not self.prompt.text.strip():
            self.prompt.text = message.unsent
        if message.show:
            self.app.push_screen(ConfirmScreen(message.title, message.text))
        elif message.refused:
            self.notify(message.text, title=message.title, severity="error")
        else:
            self.notify(message.text)
        self.team.refresh_team()
        self.refresh_bindings()

    def on_team_actions_diff_ready(self, message: TeamActions.DiffReady) -> None:
        from ensemble_tui.tui.screens.diff import DiffScreen

        self.app.push_screen(DiffScreen(message.member, message.diff))

    def on_team_actions_forks_compared(self, message: TeamActions.ForksCompared) -> None:
        self.actions.choose_fork(message.views, message.member)

    def on_team_actions_merge_previewed(self, message: TeamActions.MergePreviewed) -> None:
        self.actions.confirm_merge(message.member, message.result, message.check, message.review)

    def action_toggle_timeline(self) -> None:
        """Show or hide the timeline strip (and the spend chart beside it)."""
        strip = self.query_one("#glance")
        strip.display = not strip.display
        if not strip.display and self.timeline.has_focus:
            self.teammates.focus()

    def on_timeline_event_chosen(self, message: Timeline.EventChosen) -> None:
        from ensemble_tui.tui.widgets.timeline import event_detail

        self.app.push_screen(event_detail(message.event))


async def _said(text: str) -> str:
    """A sentence already known, as the awaitable an action runs."""
    return text
