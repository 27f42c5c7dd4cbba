"""The `ensemble-tui` command line, run as a real subprocess where it matters."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ensemble_tui import __version__
from ensemble_tui.cli import build_parser, screen_argv
from tests.conftest import cli, fresh_python, heavy_modules_after, isolated


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ensemble_tui", *args], capture_output=True, text=True, check=False
    )


def test_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"ensemble-tui {__version__}"


def test_help_names_the_commands() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    assert "OpenCode agents" in done.stdout
    assert "demo" in done.stdout
    demo_help = run_cli("demo", "--help")
    assert demo_help.returncode == 0
    assert "ENSEMBLE_OPENCODE_BIN" in demo_help.stdout


def test_help_lists_the_options_of_the_screen_it_opens_by_default() -> None:
    done = run_cli("--help")
    for option in ("--url URL", "--password PASSWORD", "--session ID", "--team NAME", "--set"):
        assert option in done.stdout
    argv = ["--url", "http://127.0.0.1:4096", "--team", "blue", "--session", "ses_1"]
    args = build_parser().parse_args(screen_argv(argv))
    assert (args.command, args.url, args.team, args.session) == (
        "tui",
        "http://127.0.0.1:4096",
        "blue",
        "ses_1",
    )


def test_an_unknown_command_is_refused() -> None:
    done = run_cli("fly")
    assert done.returncode == 2
    assert "invalid choice: 'fly'" in done.stderr


def test_demo_without_opencode_says_how_to_install_it(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    done = subprocess.run(
        [sys.executable, "-m", "ensemble_tui", "demo"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
    )
    assert done.returncode == 1
    assert "npm install -g opencode-ai@1.18.33" in done.stderr


@pytest.mark.parametrize("command", ["tui", "run", "demo", "config", "trust"])
def test_every_command_has_help(command: str) -> None:
    done = run_cli(command, "--help")
    assert done.returncode == 0
    assert f"usage: ensemble-tui {command}" in done.stdout


def test_the_screen_refuses_a_folder_that_is_not_a_repository(tmp_path: Path) -> None:
    done = cli([str(tmp_path)], tmp_path, isolated(tmp_path))
    assert done.returncode == 1
    assert "is not inside a git repository" in done.stderr


def test_the_screen_refuses_a_repository_without_a_commit(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    done = cli([str(repo)], tmp_path, isolated(tmp_path))
    assert done.returncode == 1
    assert "has no commit yet" in done.stderr


def test_the_screen_refuses_a_folder_whose_git_folder_is_no_repository(tmp_path: Path) -> None:
    """The first frame takes the folder holding `.git` as the repository without asking
    git; git, asked next in the start-up worker, refuses it, and the screen closes so."""
    folder = tmp_path / "fake"
    (folder / ".git").mkdir(parents=True)
    done = cli([str(folder)], tmp_path, isolated(tmp_path))
    assert done.returncode == 1
    assert "is not inside a git repository" in done.stderr


def test_the_screen_refuses_when_opencode_is_missing(tmp_path: Path, git_repo: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    done = cli([str(git_repo)], tmp_path, isolated(tmp_path, PATH=str(bin_dir)))
    assert done.returncode == 1
    assert "OpenCode is not installed" in done.stderr
    assert "npm install -g opencode-ai@1.18.33" in done.stderr


def test_the_screen_refuses_an_opencode_that_is_too_old(tmp_path: Path, git_repo: Path) -> None:
    """An old OpenCode is 350 MB to install; a script answering `--version` as 1.10.0
    stands in for one (only `--version` is asked before the refusal)."""
    old = tmp_path / "old-opencode"
    old.write_text("#!/bin/sh\necho 1.10.0\n")
    old.chmod(0o755)
    env = isolated(tmp_path, ENSEMBLE_OPENCODE_BIN=str(old))
    done = cli([str(git_repo)], tmp_path, env)
    assert done.returncode == 1
    # Checked once the screen is open (so it opens at once), then said as it closes.
    said = " ".join(done.stderr.split())
    assert "OpenCode 1.10.0 is not supported" in said
    assert "npm install -g opencode-ai@1.18.33" in said


def test_the_screen_refused_for_its_opencode_loads_none_of_the_team(
    tmp_path: Path, git_repo: Path
) -> None:
    """The refusal comes before the team's machinery (a second of CPU of imports: the
    coordinator, OpenCode's client, the MCP server) is loaded."""
    old = tmp_path / "old-opencode"
    old.write_text("#!/bin/sh\necho 1.10.0\n")
    old.chmod(0o755)
    env = isolated(tmp_path, ENSEMBLE_OPENCODE_BIN=str(old))
    loaded, done = heavy_modules_after([str(git_repo)], tmp_path, env)
    assert "OpenCode 1.10.0 is not supported" in " ".join(done.stderr.split())
    assert loaded == []


def test_a_bad_setting_stops_the_start_naming_key_and_file(tmp_path: Path, git_repo: Path) -> None:
    (git_repo / ".ensemble.toml").write_text('stall_threshold = "later"\n')
    done = cli([str(git_repo)], tmp_path, isolated(tmp_path))
    assert done.returncode == 1
    assert "stall_threshold" in done.stderr
    assert ".ensemble.toml" in done.stderr
    assert "5m" in done.stderr


def test_a_bad_setting_closes_the_screen_as_the_command_line_refuses_it(
    tmp_path: Path, git_repo: Path
) -> None:
    """The screen opens before the settings' values are checked (pydantic is slow to load,
    issue 14: start-up); a value refused then closes it, with the message and exit status
    `config` gives for the same setting, and no traceback."""
    env = isolated(tmp_path)
    screen = cli([str(git_repo), "--set", "stall_threshold=later"], tmp_path, env)
    config = cli(["config", "--set", "stall_threshold=later"], git_repo, env)
    assert (screen.returncode, config.returncode) == (1, 1)
    assert config.stderr.startswith("ensemble-tui: --set stall_threshold: stall_threshold = ")
    assert screen.stderr.endswith(config.stderr), "said last, once the terminal is back"
    assert "Traceback" not in screen.stderr


def test_a_keymap_only_the_full_check_can_judge_is_judged_before_the_screen_opens(
    tmp_path: Path, git_repo: Path
) -> None:
    done = cli([str(git_repo), "--set", "keys={app = {merge = 1}}"], tmp_path, isolated(tmp_path))
    assert done.returncode == 1
    # Nothing drawn before the message: the refusal came before the screen.
    assert done.stderr.startswith("ensemble-tui: --set keys: keys = {'app': {'merge': 1}} is not")
    assert "valid string" in done.stderr


def test_an_unknown_key_binding_id_is_refused_before_the_screen_opens(
    tmp_path: Path, git_repo: Path, opencode_bin: str
) -> None:
    env = isolated(tmp_path, ENSEMBLE_OPENCODE_BIN=opencode_bin)
    done = cli([str(git_repo), "--set", "keys={app.merge = 'M', fly = 'f'}"], tmp_path, env)
    assert done.returncode == 1
    assert "no binding has the id 'fly'" in done.stderr
    assert "app.merge" in done.stderr


def test_config_shows_each_layer_overriding_the_one_before(tmp_path: Path, git_repo: Path) -> None:
    env = isolated(tmp_path, ENSEMBLE_TIMEOUT="45m", ENSEMBLE_RATE_LIMIT="3")
    user_file = Path(env["XDG_CONFIG_HOME"]) / "ensemble-tui" / "ensemble.toml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text('timeout = "10m"\nstall_threshold = "1m"\nrate_limit = 9\n')
    (git_repo / ".ensemble.toml").write_text("stall_threshold = 120\n")
    done = cli(["config", "--set", "rate_limit=5"], git_repo, env)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()}
    assert rows["timeout"].split()[1] == "45m"
    assert "(ENSEMBLE_TIMEOUT)" in rows["timeout"]
    assert rows["stall_threshold"].split()[1] == "2m"
    assert ".ensemble.toml)" in rows["stall_threshold"]
    assert "5.0" in rows["rate_limit"]
    assert "(--set rate_limit)" in rows["rate_limit"]
    assert "(default)" in rows["merge_on_cleanup"]


def test_help_imports_neither_the_coordinator_nor_httpx_nor_textual() -> None:
    """`--help` answers in a blink: the command line and the settings load nothing heavy."""
    probe = (
        "import sys, contextlib\n"
        "from ensemble_tui import cli, settings\n"
        "with contextlib.suppress(SystemExit): cli.main(['--help'])\n"
        "heavy = ('ensemble_tui.core.team.coordinator', 'httpx', 'textual', 'git', 'mcp')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    assert fresh_python(probe).stdout.strip().splitlines()[-1] == "[]"


def test_config_without_a_keymap_imports_no_textual(tmp_path: Path, git_repo: Path) -> None:
    """The screen's bindings (Textual, a fifth of a second of CPU) are loaded only to
    check a keymap; the refusals of a bad one are tested below."""
    modules = ("ensemble_tui.settings", "textual")
    loaded, done = heavy_modules_after(["config"], git_repo, isolated(tmp_path), modules)
    assert "stall_threshold" in done.stdout
    assert loaded == ["ensemble_tui.settings"]


def test_report_imports_neither_the_coordinator_nor_git(tmp_path: Path, git_repo: Path) -> None:
    """`report` reads a saved report: the team's machinery and GitPython stay unloaded."""
    modules = ("ensemble_tui.core.team.report", "ensemble_tui.core.team.coordinator", "git")
    loaded, done = heavy_modules_after(["report"], git_repo, isolated(tmp_path), modules)
    assert "no team has worked in" in done.stderr
    assert loaded == ["ensemble_tui.core.team.report"]


@pytest.mark.parametrize(
    ("keys", "said"),
    [
        ("{app.mrge = 'M'}", "no binding has the id 'app.mrge'"),
        ("{app.merge = 'j'}", "app.merge = 'j' clashes with teammates.down"),
        ("{app.merge = 'd'}", "app.merge = 'd' clashes with app.diff"),
    ],
)
def test_config_refuses_a_keymap_with_an_unknown_id_or_a_clash(
    tmp_path: Path, git_repo: Path, keys: str, said: str
) -> None:
    env = isolated(tmp_path)
    done = cli(["config", "--set", f"keys={keys}"], git_repo, env)
    assert done.returncode == 1
    assert said in done.stderr
    assert "--set keys" in done.stderr
    assert "Traceback" not in done.stderr
