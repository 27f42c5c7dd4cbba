"""The diff screen: a teammate's work against its base, one file at a time."""

from __future__ import annotations

import re
from typing import ClassVar

from rich.syntax import Syntax
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ensemble_tui.core.git.commands import ChangedFile
from ensemble_tui.core.git.worktrees import BranchDiff
from ensemble_tui.tui.keys import key_of_action

_FILE_HEADER = re.compile(r"^diff --git a/(.*?) b/(.*)$", re.MULTILINE)


def split_patch(patch: str) -> dict[str, str]:
    """The patch of each file, by its new path."""
    found: dict[str, str] = {}
    headers = list(_FILE_HEADER.finditer(patch))
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        end = following.start() if following is not None else len(patch)
        found[header.group(2)] = patch[header.start() : end]
    return found


def file_label(changed: ChangedFile) -> Content:
    counts = (
        "binary"
        if changed.binary
        else Content.assemble(
            (f"+{changed.additions}", "$success"), " ", (f"-{changed.deletions}", "$error")
        )
    )
    return Content.assemble((changed.status[:1].upper(), "bold"), " ", changed.path, "  ", counts)


class DiffScreen(Screen[None]):
    """Files on the left (`j`/`k`), the selected file's patch on the right, `esc` closes."""

    DEFAULT_CSS = """
    DiffScreen {
        & > #diff-header { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
        & > Horizontal { height: 1fr; }
        & #diff-files {
            width: 30%;
            min-width: 24;
            max-width: 50;
            border: round $border-blurred;
            &:focus { border: round $border; }
        }
        & #diff-patch {
            width: 1fr;
            border: round $border-blurred;
            &:focus { border: round $border; }
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="diff.close"),
        Binding("j", "next_file", "Next file", show=False, id="diff.next"),
        Binding("k", "previous_file", "Previous file", show=False, id="diff.previous"),
    ]

    def __init__(self, member: str, diff: BranchDiff) -> None:
        super().__init__()
        self.member = member
        self.diff = diff
        self.patches = split_patch(diff.patch)

    def compose(self) -> ComposeResult:
        diff = self.diff
        added = sum(f.additions or 0 for f in diff.files)
        removed = sum(f.deletions or 0 for f in diff.files)
        uncommitted = ", uncommitted work included" if diff.includes_uncommitted else ""
        header = Content.assemble(
            (self.member, "bold $text"),
            f"  {diff.branch} against {diff.base_commit[:8]}: {len(diff.files)} files, ",
            (f"+{added}", "$success"),
            " ",
            (f"-{removed}", "$error"),
            uncommitted,
        )
        self.header = header
        yield Static(header, id="diff-header")
        with Horizontal():
            files = OptionList(
                *[Option(file_label(f), id=f.path) for f in diff.files], id="diff-files"
            )
            files.border_title = "Files"
            yield files
            with VerticalScroll(id="diff-patch") as patch:
                patch.border_title = "Patch"
                yield Static(id="diff-text")

    def on_mount(self) -> None:
        keys = "/".join(key_of_action(self, a) for a in ("next_file", "previous_file"))
        hint = f"   {keys} file  tab patch  {key_of_action(self, 'close')} close"
        self.query_one("#diff-header", Static).update(Content.assemble(self.header, hint))
        files = self.query_one("#diff-files", OptionList)
        if self.diff.files:
            files.highlighted = 0
        else:
            self.query_one("#diff-text", Static).update(f"{self.member} has changed nothing yet.")
        files.focus()

    @on(OptionList.OptionHighlighted, "#diff-files")
    def _show_file(self, event: OptionList.OptionHighlighted) -> None:
        path = event.option.id or ""
        patch = self.patches.get(path, "")
        text = self.query_one("#diff-text", Static)
        if not patch:
            text.update(f"No text patch for {path} (a binary file?).")
        else:
            text.update(Syntax(patch, "diff", theme="ansi_dark", word_wrap=False))
        scroll = self.query_one("#diff-patch", VerticalScroll)
        scroll.border_title = path
        scroll.scroll_home(animate=False)

    def action_next_file(self) -> None:
        self.query_one("#diff-files", OptionList).action_cursor_down()

    def action_previous_file(self) -> None:
        self.query_one("#diff-files", OptionList).action_cursor_up()

    def action_close(self) -> None:
        self.dismiss(None)
