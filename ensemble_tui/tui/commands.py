"""The command palette (`ctrl+p`): every action of the screen, and each member by name."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from ensemble_tui.tui.app import EnsembleApp


@dataclass(frozen=True)
class Command:
    """One palette entry: the action it runs (with its key) and what it does."""

    action: str
    title: str
    help: str


# Every action_* of the app, in the order the palette lists them when nothing is typed.
COMMANDS = (
    Command("focus_prompt", "Type to the shown session  (i)", "Put the cursor in the prompt box."),
    Command("leave_prompt", "Go to the team list  (esc)", "Leave the prompt box for the list."),
    Command("show_selected", "Show the selected member's session  (enter)", "Switch the pane."),
    Command("show_lead", "Show the lead's session  (esc in the list)", "Back to the lead."),
    Command("next_attention", "Next member that needs you  (n)", "Jump to a waiting request."),
    Command("allow_once", "Allow the waiting request once  (a)", "Or answer a question."),
    Command("allow_always", "Allow the waiting request always  (A)", "Allow it from now on."),
    Command("reject", "Reject the waiting request  (r)", "With an optional reason."),
    Command("diff", "Diff of the selected teammate  (d)", "Its work against its base."),
    Command("merge", "Merge the selected teammate  (m)", "Squash into your working tree."),
    Command("shutdown", "Shut the selected teammate down  (x)", "Its work is committed first."),
    Command("abort", "Stop the shown member's turn  (S)", "Its session stays; send to resume."),
    Command("open_in_opencode", "Open the shown session in OpenCode  (o)", "opencode attach."),
    Command("cleanup", "Clean up the team  (C)", "Shut everyone down, merge, end the team."),
    Command(
        "screen.toggle_timeline", "Show or hide the timeline  (t)", "The team's events over time."
    ),
    Command("help", "Show the keys  (?)", "Every key and where it works."),
)


class TeamCommands(Provider):
    """Lists the app's actions that can run now, and 'show <member>' for each member."""

    @property
    def ensemble(self) -> EnsembleApp:
        from ensemble_tui.tui.app import EnsembleApp

        assert isinstance(self.app, EnsembleApp)
        return self.app

    def _entries(self) -> Iterator[tuple[str, Callable[[], object], str]]:
        app = self.ensemble
        for command in COMMANDS:
            if app.check_action(command.action, ()) is not False:
                yield command.title, partial(app.run_action, command.action), command.help
        for name in app.member_names():
            yield (
                f"Show {name}'s session",
                partial(app.show_member, name),
                f"The session pane shows {name}; the prompt talks to {name}.",
            )

    async def discover(self) -> Hits:
        for title, callback, help_text in self._entries():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
