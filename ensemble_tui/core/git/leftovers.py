"""Files a teammate's worktree holds that its branch does not: kept, not deleted with it.

The work-in-progress commit saves everything git tracks or could track, but removing
the worktree would also delete the files git ignores (a `.env`, a build folder, logs the
teammate wrote on purpose) and the checkouts of submodules it initialised (their own
uncommitted files and commits). Before a worktree is removed they are moved to a kept
folder beside it, `<member>.kept`, which the merge report names.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ensemble_tui.core.git.commands import open_repo, run_git_raw

_GITLINK_MODE = "160000"


@dataclass(frozen=True, slots=True)
class KeptFiles:
    """Where a removed worktree's untracked leftovers went, and which they were."""

    folder: Path
    paths: tuple[str, ...]
    """The moved paths, relative to the worktree (folders end with `/`)."""
    submodules: tuple[str, ...] = ()
    """The moved submodule checkouts, each with its own git folder."""

    def describe(self) -> str:
        """One sentence for the merge report and the log."""
        shown = ", ".join(self.paths[:8]) + (" ..." if len(self.paths) > 8 else "")
        return f"Files git does not track were kept in {self.folder}: {shown}"


def _split(raw: bytes) -> list[str]:
    return [item for item in raw.decode(errors="surrogateescape").split("\0") if item]


def _populated_submodules(worktree: Path) -> list[str]:
    """Submodule paths of the worktree's index whose folder has been checked out."""
    repo = open_repo(worktree)
    found = []
    for entry in _split(run_git_raw(repo, "ls-files", "-z", "--stage")[1]):
        mode, _, rest = entry.partition(" ")
        path = rest.partition("\t")[2]
        if mode == _GITLINK_MODE and (worktree / path / ".git").exists():
            found.append(path)
    return found


def _ignored(worktree: Path) -> list[str]:
    """Ignored files and folders (a folder once, as `name/`), outside any submodule."""
    raw = run_git_raw(
        open_repo(worktree),
        "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory",
    )[1]  # fmt: skip
    return _split(raw)


def _kept_folder(worktree: Path) -> Path:
    folder = worktree.with_name(f"{worktree.name}.kept")
    number = 1
    while folder.exists():
        number += 1
        folder = worktree.with_name(f"{worktree.name}.kept-{number}")
    return folder


def keep_leftovers(worktree: Path) -> KeptFiles | None:
    """Move what removing `worktree` would delete to `<worktree>.kept`; None if nothing."""
    submodules = _populated_submodules(worktree)
    git_dirs = {}
    for path in submodules:
        link = worktree / path / ".git"
        if link.is_file():
            # Its history lives in the worktree's git folder, which goes with the worktree.
            target = link.read_text(errors="replace").partition("gitdir:")[2].strip()
            git_dirs[path] = (link.parent / target).resolve()
    ignored = [path for path in _ignored(worktree) if path.rstrip("/") not in submodules]
    if not submodules and not ignored:
        return None
    folder = _kept_folder(worktree)
    for path in [*ignored, *submodules]:
        destination = folder / path.rstrip("/")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(worktree / path.rstrip("/")), str(destination))
    for path, git_dir in git_dirs.items():
        link = folder / path / ".git"
        if git_dir.is_dir():
            link.unlink()
            shutil.move(str(git_dir), str(link))
            # It pointed back at the removed checkout; now it lives in its own folder.
            subprocess.run(
                ["git", "config", "--file", str(link / "config"), "--unset", "core.worktree"],
                capture_output=True,
                check=False,
            )
    paths = [*ignored, *(f"{path}/" for path in submodules)]
    return KeptFiles(folder=folder, paths=tuple(paths), submodules=tuple(submodules))
