"""Every key binding of the screen by its id, with the user's keymap applied.

Key hints (the help screen, the palette, pane borders, the prompt's placeholder) are
rendered from here, never typed into strings, so `[keys] app.merge = "M"` changes every
hint at once. `check_keymap` refuses a keymap that names an unknown id or gives one key
to two actions that are active together.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

import ensemble_tui.tui

# Bindings of these classes are active everywhere on the main screen; a widget's own
# binding for the same key would hide them while that widget has focus.
GLOBAL_SCOPES = frozenset({"EnsembleApp", "MainScreen"})


@dataclass(frozen=True)
class KnownBinding:
    """A binding of one of the screen's classes."""

    scope: str
    """The class that declares it (its keys work where that class is active)."""
    binding: Binding


def _bindings_of(module: Any, found: dict[str, KnownBinding]) -> None:
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ != module.__name__:
            continue
        for binding in cls.__dict__.get("BINDINGS", ()):
            if isinstance(binding, Binding) and binding.id:
                found[binding.id] = KnownBinding(cls.__name__, binding)


@cache
def known_bindings() -> dict[str, KnownBinding]:
    """Every binding with an id, of every class of the screen, by id (this imports every
    module of the screen, so only checks and the help need it)."""
    import pkgutil  # Here: the first frame needs no other module of the screen.

    found: dict[str, KnownBinding] = {}
    for info in pkgutil.walk_packages(ensemble_tui.tui.__path__, "ensemble_tui.tui."):
        _bindings_of(importlib.import_module(info.name), found)
    return found


_LOADED: dict[str, KnownBinding] = {}
_SEEN: set[str] = set()
"""The screen's modules whose bindings are in _LOADED."""


def known_binding(binding_id: str) -> KnownBinding:
    """The binding with *binding_id*, looked up first in the screen's modules imported so
    far: the first frame's key hints need not import the screens opened later."""
    if binding_id not in _LOADED:
        for name, module in list(sys.modules.items()):
            if name.startswith("ensemble_tui.tui.") and name not in _SEEN:
                _SEEN.add(name)
                _bindings_of(module, _LOADED)
    return _LOADED.get(binding_id) or known_bindings()[binding_id]


def keys_of(binding_id: str, keymap: Mapping[str, str]) -> list[str]:
    """The keys that run *binding_id* under *keymap* (the first is the one shown)."""
    known = known_binding(binding_id)
    keys = keymap.get(binding_id) or known.binding.key
    return [key.strip() for key in keys.split(",") if key.strip()]


def check_keymap(keymap: Mapping[str, str]) -> list[str]:
    """What is wrong with a keymap, one sentence each (nothing: it is fine).

    Two actions clash when they share a key in one class, or when one is global (the
    app's, the main screen's) and the other a widget's, which would hide it there.
    Clashes of the defaults among themselves are by design; only a rebound key is checked.
    """
    if not keymap:
        return []  # Nothing rebound: nothing to check (and no screen module to import).
    known = known_bindings()
    unknown = sorted(set(keymap) - set(known))
    if unknown:
        return [
            f"no binding has the id {', '.join(map(repr, unknown))}; "
            f"the ids are: {', '.join(sorted(known))}"
        ]
    problems = []
    for rebound in sorted(keymap):
        mine = known[rebound]
        for other, theirs in sorted(known.items()):
            if other == rebound:
                continue
            together = (
                mine.scope == theirs.scope
                or mine.scope in GLOBAL_SCOPES
                or theirs.scope in GLOBAL_SCOPES
            )
            shared = set(keys_of(rebound, keymap)) & set(keys_of(other, keymap))
            if together and shared:
                problems.append(
                    f"keys: {rebound} = {keymap[rebound]!r} clashes with {other}, which has "
                    f"{', '.join(sorted(shared))!r} too; choose another key"
                )
    return problems


class KeyHints:
    """The shown form of each binding's key, under the app's keymap."""

    def __init__(self, app: App[Any], keymap: Mapping[str, str]) -> None:
        self.app = app
        self.keymap = dict(keymap)

    def key(self, binding_id: str) -> str:
        """How the key of *binding_id* is shown, e.g. `m`, `^o`, `esc`."""
        key = keys_of(binding_id, self.keymap)[0]
        return self.app.get_key_display(Binding(key, ""))

    def hint(self, *pairs: tuple[str, str]) -> str:
        """`key what · key what`, for (binding id, what it does) pairs."""
        return " · ".join(f"{self.key(binding_id)} {what}" for binding_id, what in pairs)


def key_of_action(screen: Screen[Any], action: str) -> str:
    """How the key that runs *action* on *screen* is shown, as its active bindings say
    (the keymap applied); for a modal screen's own hints, e.g. 'esc close'."""
    for active in screen.active_bindings.values():
        if active.binding.action == action:
            return screen.app.get_key_display(active.binding)
    return action
