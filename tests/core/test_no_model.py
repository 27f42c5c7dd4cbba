"""A new user with no usable model is told what to do at once, and `run` fails (issue 12,
items 1 and 2). The real OpenCode runs with no provider at all, or with one whose server
does not answer (a closed port, as when the network is down)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from ensemble_tui.demo.environment import (
    scripted_opencode_environment,
    seed_opencode_config,
    without_model_catalogue,
)
from ensemble_tui.demo.scripted_model import MODEL_ID, PROVIDER_ID
from tests.conftest import SHORT_LIVED_OPENCODE, no_provider_environment, seed_version_cache


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unreachable_model_environment(home: Path, deps: Path | None) -> dict[str, str]:
    """OpenCode whose only model's server does not answer (and, as in `opencode_env`, no
    catalogue of the models it cannot use, and no FTL compiler)."""
    env = without_model_catalogue(
        scripted_opencode_environment(home, f"http://127.0.0.1:{closed_port()}/v1")
    )
    env.update(SHORT_LIVED_OPENCODE)
    return seed_opencode_config(env, deps)


def run_json(repo: Path, env: dict[str, str], opencode_bin: str) -> tuple[int, list[Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "ensemble_tui", "run", "--json", "--timeout", "120", "Hello"],
        cwd=repo,
        env=dict(env, ENSEMBLE_OPENCODE_BIN=opencode_bin),
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    events = [json.loads(line) for line in done.stdout.splitlines()]
    return done.returncode, events, done.stderr


def test_run_with_an_unreachable_model_fails_within_seconds_and_says_the_fix(
    tmp_path: Path,
    git_repo: Path,
    opencode_bin: str,
    opencode_plugin_deps: Path | None,
    opencode_version_cache: Path | None,
) -> None:
    env = unreachable_model_environment(tmp_path / "home", opencode_plugin_deps)
    seed_version_cache(env, opencode_version_cache)
    status, events, stderr = run_json(git_repo, env, opencode_bin)
    kinds = [event["type"] for event in events]
    assert status == 1, (kinds, stderr)
    assert kinds[-1] == "run.failed", kinds
    assert "run.finished" not in kinds
    assert "member.rate_limited" not in kinds
    errors = [event for event in events if event["type"] == "member.error"]
    assert errors, kinds
    told = errors[0]["text"]
    assert f"{PROVIDER_ID}/{MODEL_ID} cannot be reached: Cannot connect to API" in told, told
    assert "opencode auth login" in told
    # Said on OpenCode's first attempt (test_sessions shows the first retry is the error;
    # about 4 s after the prompt on an idle machine), not after its minutes of retries;
    # a clock bound here would only measure the machine's load.
    assert kinds.index("prompt.sent") < kinds.index("member.error")
    last_line = stderr.strip().splitlines()[-1]
    assert last_line.startswith("ensemble-tui: lead ended its turn in error: the model")
    assert "opencode auth login" in last_line
    assert events[-1]["text"] in last_line


def test_run_with_no_provider_stops_before_the_prompt_and_says_the_fix(
    tmp_path: Path,
    git_repo: Path,
    opencode_bin: str,
    opencode_plugin_deps: Path | None,
    opencode_version_cache: Path | None,
) -> None:
    env = no_provider_environment(tmp_path / "home", opencode_plugin_deps)
    seed_version_cache(env, opencode_version_cache)
    status, events, stderr = run_json(git_repo, env, opencode_bin)
    kinds = [event["type"] for event in events]
    assert status == 1, (kinds, stderr)
    assert kinds[-2:] == ["model.unavailable", "run.failed"], kinds
    assert "prompt.sent" not in kinds
    unavailable = events[-2]
    assert unavailable["text"].startswith("No model provider is connected in OpenCode.")
    assert "opencode auth login" in unavailable["text"]
    assert "ensemble-tui: No model provider is connected" in stderr.strip().splitlines()[-1]
