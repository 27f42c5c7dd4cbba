"""Toasts that cost the screen one layout each: Textual's, without the second layout.

A new toast is a `Static` of auto height in a holder in the screen's rack. The layout that
places it also gives it its virtual size for the first time, and Textual's `virtual_size`
asks for a layout when it changes: a second layout of the whole screen, which places the
toast where it is already (its height was measured by the first one). Streaming teammates
bring toasts often (a teammate waiting, a task added), each one two screen layouts; here it
is one. What the toast shows and where are Textual's own.
"""

from __future__ import annotations

from typing import Any

from textual.css.query import NoMatches
from textual.geometry import Size
from textual.notifications import Notification, Notifications
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widgets._toast import Toast, ToastHolder, ToastRack


class OneLayoutToast(Toast):
    """A toast whose virtual size, set by the layout that placed it, asks for no other."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False, repaint=False)


class OneLayoutToastRack(ToastRack):
    """The screen's rack of toasts, mounting `OneLayoutToast`s."""

    async def show(self, notifications: Notifications) -> None:  # type: ignore[override]
        """Show *notifications*: the expired ones' toasts go, the new ones' come, laid out
        together once their holders are mounted (the rack shown, the holders composed and
        the toasts mounted would each bring a layout of the screen of their own)."""
        fresh: list[Notification] = []
        for notification in notifications:
            try:
                self.get_child_by_id(self._toast_id(notification))
            except NoMatches:
                if not notification.has_expired:
                    fresh.append(notification)
        with self.app.batch_update():
            self.display = bool(notifications)
            for toast in self.query(Toast):
                if toast._notification not in notifications:
                    toast.remove()
            if fresh:
                await self.mount_all(
                    ToastHolder(OneLayoutToast(notification), id=self._toast_id(notification))
                    for notification in fresh
                )
        # The screen lays out what the batch held back at its next idle.
        self.screen.check_idle()
        if fresh:
            self.scroll_end(animate=False, force=True)


def one_layout_rack(screen: Screen[Any] | None) -> OneLayoutToastRack | None:
    """*screen*'s rack of toasts if it is a `OneLayoutToastRack`."""
    if screen is None:
        return None
    for child in screen.children:
        if isinstance(child, OneLayoutToastRack):
            return child
    return None
