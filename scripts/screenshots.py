"""Write SVG screenshots of the screen's main states into `screenshots/` (`make screenshots`).

Each state is the real app over a fixed scene (tests/tui/scenes.py: a real store, git
repository and coordinator, canned transcripts), driven by the keys a person would
press, so the pictures match the snapshot tests and do not change from run to run.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402

from tests.tui.scenes import build_scene  # noqa: E402

SMALL = (100, 30)
LARGE = (160, 45)

# name: (scene, terminal size, keys pressed, what it shows)
STATES: dict[str, tuple[str, tuple[int, int], tuple[str, ...], str]] = {
    "empty-team": ("empty", SMALL, (), "Ensemble before the lead has made a team"),
    "team-at-work": ("team", SMALL, (), "A team at work"),
    "team-at-work-large": ("team", LARGE, (), "A team at work on a large terminal"),
    "glance": ("team", (80, 24), (), "The team at a glance on an 80x24 terminal"),
    "teammate-session": ("team", SMALL, ("escape", "j", "enter"), "A teammate's session"),
    "diff": ("team", SMALL, ("escape", "j", "d"), "A teammate's diff"),
    "permission": ("permission", SMALL, (), "A teammate asks for permission"),
    "help": ("team", SMALL, ("escape", "question_mark"), "The keys"),
}


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def shoot(name: str, folder: Path, out: Path) -> None:
    scene, size, keys, title = STATES[name]
    app = build_scene(folder, scene).app
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.main.prompt.cursor_blink = False
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        (out / f"{name}.svg").write_text(app.export_screenshot(title=title))


async def main() -> None:
    out = ROOT / "screenshots"
    out.mkdir(exist_ok=True)
    for name in STATES:
        with tempfile.TemporaryDirectory(prefix="ensemble-shot-") as folder:
            await shoot(name, Path(folder), out)
        print(f"screenshots/{name}.svg")


if __name__ == "__main__":
    asyncio.run(main())
