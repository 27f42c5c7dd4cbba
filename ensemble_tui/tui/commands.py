"""The command palette (`ctrl+p`): every action of the screen, and each member by name."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ensemble_tui.tui.keys import KeyHints


class ActionNode(Protocol):
    """Where an action runs: the app, or its main screen (the team's keys)."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None: ...

    async def run_action(self, action: str) -> object: ...


class PaletteHost(ActionNode, Protocol):
    """What the palette needs of the app (the app imports the palette, not the reverse)."""

    hints: KeyHints

    @property
    def main(self) -> ActionNode: ...

    def member_names(self) -> list[str]: ...

    def show_member(self, name: str) -> None: ...


@dataclass(frozen=True)
class Command:
    """One palette entry: the action it runs, the binding whose key it shows, what it does."""

    action: str
    """The action's name; `screen.` for the main screen's (the team's keys)."""
    binding: str | None
    title: str
    help: str
    where: str = ""
    """Where the key works, when not everywhere (e.g. 'in the list')."""


# Every action of the app and its main screen, in the order the palette lists them when
# nothing is typed.
COMMANDS = (
    Command("focus_prompt", "app.prompt", "Type to the shown session", "Put the cursor there."),
    Command("leave_prompt", "prompt.leave", "Go to the team list", "Leave the prompt box."),
    Command("show_selected", None, "Show the selected member's session", "Switch the pane."),
    Command(
        "show_lead", "teammates.lead", "Show the lead's session", "Back to the lead.", "in the list"
    ),
    Command(
        "screen.next_attention", "app.next", "Next member that needs you", "A waiting request."
    ),
    Command(
        "screen.allow_once", "app.allow_once", "Allow the waiting request once", "Or answer it."
    ),
    Command(
        "screen.allow_always", "app.allow_always", "Allow the waiting request always", "From now."
    ),
    Command(
        "screen.reject", "app.reject", "Reject the waiting request", "With an optional reason."
    ),
    Command(
        "screen.diff", "app.diff", "Diff of the selected teammate", "Its work against its base."
    ),
    Command(
        "screen.merge", "app.merge", "Merge the selected teammate", "Squash into your working tree."
    ),
    Command(
        "screen.shutdown",
        "app.shutdown",
        "Shut the selected teammate down",
        "Work committed first.",
    ),
    Command("screen.abort", "app.abort", "Stop the shown member's turn", "Its session stays."),
    Command("screen.open_in_opencode", "app.open", "Open the shown session in OpenCode", "attach."),
    Command(
        "screen.cleanup", "app.cleanup", "Clean up the team", "Shut down, merge, end the team."
    ),
    Command(
        "screen.toggle_timeline",
        "main.timeline",
        "Show or hide the timeline",
        "The team's events over time.",
    ),
    Command("screen.fork", "app.fork", "Fork the selected member", "A copy of its conversation."),
    Command(
        "screen.fork_many", "app.fork_many", "Fork the selected member N ways", "A prompt each."
    ),
    Command(
        "screen.compare_forks",
        "app.compare",
        "Compare the selected fork's group",
        "Side by side; keep one.",
    ),
    Command(
        "screen.handoff", "app.handoff", "Hand the selected member off", "Message/new/compact."
    ),
    Command(
        "screen.earlier_sessions",
        "app.earlier",
        "Read the shown member's earlier sessions",
        "Before a hand-off.",
    ),
    Command(
        "screen.report", "app.report", "Show the team's report", "What the last team did and cost."
    ),
    Command("screen.pause", "app.pause", "Pause or resume the team", "No new prompts meanwhile."),
    Command(
        "screen.until_done",
        "app.until_done",
        "Turn until-done on or off",
        "Go on while work is open.",
    ),
    Command("help", "app.help", "Show the keys", "Every key and where it works."),
)


def command_title(command: Command, key: str | None) -> str:
    """The palette line: what it does, and its key (where it works, if not everywhere)."""
    if key is None:
        return command.title
    where = f" {command.where}" if command.where else ""
    return f"{command.title}  ({key}{where})"


class TeamCommands(Provider):
    """Lists the app's actions that can run now, and 'show <member>' for each member."""

    @property
    def ensemble(self) -> PaletteHost:
        return cast(PaletteHost, self.app)

    def _entries(self) -> Iterator[tuple[str, Callable[[], object], str]]:
        app = self.ensemble
        for command in COMMANDS:
            namespace, _, action = command.action.rpartition(".")
            node = app.main if namespace == "screen" else app
            if node.check_action(action, ()) is not False:
                key = app.hints.key(command.binding) if command.binding else None
                title = command_title(command, key)
                yield title, partial(node.run_action, action), command.help
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
