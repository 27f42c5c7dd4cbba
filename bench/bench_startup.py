"""Start-up: `ensemble-tui --help`, and the screen's first frame against a one-label app.

Each figure runs fresh processes, so imports count as a user sees them.
- `seconds help`: wall time of `ensemble-tui --help`, median of the rounds.
- `ratio first_frame`: from spawning the process to Textual's first frame written to
  the (headless) driver, for `ensemble-tui PATH` on a fresh git repository (the real
  command, starting the real OpenCode named by ENSEMBLE_OPENCODE_BIN), over the same for
  a one-label Textual app; each round runs both, interleaved, and the median is taken.
  That first frame shows the panes' outlines; the panes themselves are mounted just
  after it. So that this is not taken for the whole story, each round also prints the
  time to the first frame drawn with the panes in place ("full screen"), and its ratio
  (a raw figure, not the goal's line).
  The one-label app runs just before and just after ensemble-tui in each round and the
  ratio is over the mean of the two: this machine's CPU speed swings (a fixed
  pure-Python loop takes 0.14 s in some moments and 0.24 s in others, switching within
  a second, with no other process busy), so a round's lone baseline and its ensemble-tui
  run often land in different speeds; bracketing the ensemble-tui run halves that spread
  without changing what is timed.

Both apps start from compiled bytecode, as an installed package does (pip compiles a
wheel's modules when it installs them): Textual's is in the virtualenv already, and
ours is compiled before the rounds. An editable checkout has none until a first start
writes it, and under PYTHONDONTWRITEBYTECODE=1 (set on this machine) none is ever
written: every start compiled each of our modules from source, 90 ms of CPU more to the
full screen (ratio 1.41 -> 1.77 in one A/B), which a user never pays.
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ROUNDS = 5

# Run in the child: make Textual headless, and print the time of the first frame.
PROBE = """
import sys, time
from textual.app import App
_run, _display = App.run, App._display
def run(self, *args, **kwargs):
    kwargs["headless"] = True
    return _run(self, *args, **kwargs)
App._first = False
App._full = False  # set by the measured code once its screen is complete
App._wait_for_full = False  # whether to go on until then
def display(self, screen, renderable):
    if not App._first:
        App._first = True
        print("FIRST_FRAME", time.time(), flush=True)
        if not App._wait_for_full:
            self.call_later(self.exit)
    elif App._full:
        print("FULL_FRAME", time.time(), flush=True)
        self.call_later(self.exit)
        App._full = App._wait_for_full = False
    return _display(self, screen, renderable)
App.run, App._display = run, display
"""
LABEL = """
from textual.widgets import Label
class One(App):
    def compose(self):
        yield Label("hello")
One().run()
"""
ENSEMBLE = """
from ensemble_tui.cli import main
from ensemble_tui.tui.app import EnsembleApp
_ready = EnsembleApp.on_panes_mounted
def on_panes_mounted(self):
    _ready(self)
    App._full = True
    self.refresh()
EnsembleApp.on_panes_mounted = on_panes_mounted
App._wait_for_full = True
main(sys.argv[1:])
"""


def help_seconds() -> float:
    start = time.perf_counter()
    subprocess.run(
        [str(Path(PYTHON).parent / "ensemble-tui"), "--help"], check=True, capture_output=True
    )
    return time.perf_counter() - start


def first_frame(code: str, *args: str, cwd: Path | None = None) -> float:
    """Seconds from spawn to the first frame of the app that *code* runs."""
    return frames(code, *args, cwd=cwd)[0]


def frames(code: str, *args: str, cwd: Path | None = None) -> list[float]:
    """Seconds from spawn to each frame the probe prints for the app that *code* runs:
    the first, then (for ensemble-tui) the first with the panes in place."""
    start = time.time()
    done = subprocess.run(
        [PYTHON, "-c", PROBE + code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "TERM": "xterm-256color"},
        timeout=120,
    )
    times = [
        float(line.split()[1]) - start
        for line in done.stdout.splitlines()
        if line.startswith(("FIRST_FRAME", "FULL_FRAME"))
    ]
    if times:
        return times
    raise RuntimeError(f"no frame drawn: {done.stdout[-500:]} {done.stderr[-2000:]}")


def fresh_repository(folder: Path) -> Path:
    repo = folder / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b.invalid"}
    env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b.invalid"}
    for command in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "start"]):
        subprocess.run(["git", *command], cwd=repo, env=env, check=True)
    return repo


def compile_bytecode() -> None:
    """Compile our modules' bytecode (where it is missing or older than the source), as
    installing the package does."""
    compileall.compile_dir(ROOT / "ensemble_tui", quiet=1)


def main(rounds: int = ROUNDS) -> None:
    compile_bytecode()
    helps = [help_seconds() for _ in range(rounds)]
    print(f"ensemble-tui --help: {', '.join(f'{s:.2f}' for s in helps)} s")
    print(f"seconds help {statistics.median(helps):.2f}")
    ratios, full_ratios = [], []
    with tempfile.TemporaryDirectory(prefix="ensemble-bench-") as folder:
        repo = fresh_repository(Path(folder))
        os.environ.setdefault("XDG_DATA_HOME", str(Path(folder) / "data"))
        for number in range(rounds):
            before = first_frame(LABEL)
            ensemble, *full = frames(ENSEMBLE, str(repo), cwd=repo)
            after = first_frame(LABEL)
            label = (before + after) / 2
            ratios.append(ensemble / label)
            if not full:
                raise RuntimeError("ensemble-tui drew no frame with its panes in place")
            full_ratios.append(full[0] / label)
            print(
                f"  round {number + 1}: first frame: one-label app {before:.2f} s and "
                f"{after:.2f} s, ensemble-tui {ensemble:.2f} s, ratio {ensemble / label:.2f}; "
                f"full screen {full[0]:.2f} s, ratio {full[0] / label:.2f}"
            )
    print(f"  full screen: ratio median {statistics.median(full_ratios):.2f}")
    print(f"ratio first_frame {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS)
