"""Open the ensemble screen on a scripted team: a throwaway repository, the scripted
model and the real OpenCode, with no API key.

    .venv/bin/python scripts/scripted_team.py [two|permission|idle]

`two` (the default) is the reference story of `ensemble_tui.demo.scenarios`: a lead,
two teammates, three tasks; `permission` has a teammate ask to write outside its
worktree; `idle` only starts the lead, for typing to it by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ensemble_tui.options import RunOptions
from ensemble_tui.core.team.settings import CoordinatorSettings
from ensemble_tui.demo.environment import scripted_opencode_environment
from ensemble_tui.demo.scenarios import permission_story, two_teammates
from ensemble_tui.demo.scripted_model import ScriptedModel
from ensemble_tui.tui.app import make_app


def make_repository(root: Path) -> Path:
    repo = root / "project"
    repo.mkdir()
    identity = ["-c", "user.name=demo", "-c", "user.email=demo@ensemble.invalid"]
    (repo / "README.md").write_text("# a project\n")
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "initial commit"]):
        subprocess.run(["git", *identity, *args], cwd=repo, check=True)
    return repo


def main() -> None:
    story = sys.argv[1] if len(sys.argv) > 1 else "two"
    with tempfile.TemporaryDirectory(prefix="ensemble-") as folder:
        root = Path(folder)
        os.environ["XDG_DATA_HOME"] = str(root / "data")
        repo = make_repository(root)
        outside = root / "outside"
        outside.mkdir()
        prompts = {
            "two": two_teammates("demo"),
            "permission": permission_story(outside),
            "idle": "",
        }
        with ScriptedModel(log_path=root / "model.log") as model:
            options = RunOptions(
                repo_root=repo,
                prompt=prompts[story],
                server_env=scripted_opencode_environment(root / "home", model.base_url),
                store_path=root / "state.db",
                settings=CoordinatorSettings(worktree_root=root / "worktrees"),
            )
            make_app(options).run()


if __name__ == "__main__":
    main()
