"""What a newcomer meets on the screen (issue 12): no usable model is said before the first
prompt, with the fix; each member's model is shown; a prompt sent while still connecting
is not lost. Against the real `opencode serve`."""

from __future__ import annotations

from pathlib import Path

from ensemble_tui.core.team.settings import CoordinatorSettings
from ensemble_tui.demo.scripted_model import MODEL_ID, PROVIDER_ID
from ensemble_tui.opencode.server import OpenCodeServer
from ensemble_tui.options import RunOptions
from ensemble_tui.tui.app import make_app
from ensemble_tui.tui.widgets.attention import AttentionBar
from ensemble_tui.tui.widgets.session import PromptBox, SessionPane
from tests.conftest import no_provider_environment
from tests.tui.conftest import SIZE, feed_event, happened, quit_app, settle, start


async def test_no_provider_is_said_on_the_screen_before_the_first_prompt(
    tmp_path: Path, git_repo: Path, opencode_bin: str, opencode_plugin_deps: Path | None
) -> None:
    options = RunOptions(
        repo_root=git_repo,
        prompt="",
        opencode_bin=opencode_bin,
        server_env=no_provider_environment(tmp_path / "home", opencode_plugin_deps),
        store_path=tmp_path / "state.db",
        settings=CoordinatorSettings(worktree_root=tmp_path / "worktrees"),
    )
    app = make_app(options)
    async with app.run_test(size=SIZE) as pilot:
        coordinator = await start(pilot)
        await feed_event(coordinator, happened("model.unavailable"))
        await settle(pilot)
        bar = app.query_one(AttentionBar)
        shown = str(bar.render())
        assert bar.display
        assert bar.has_class("-problem")
        assert "No model provider is connected in OpenCode." in shown
        assert "opencode auth login" in shown
        assert "--set default_model=provider/model" in shown
        await quit_app(pilot)


async def test_the_lead_s_model_is_named_in_the_session_pane(
    tmp_path: Path, git_repo: Path, opencode_server: OpenCodeServer
) -> None:
    options = RunOptions(
        repo_root=git_repo,
        prompt="",
        url=opencode_server.url,
        password=opencode_server.password,
        store_path=tmp_path / "state.db",
        settings=CoordinatorSettings(worktree_root=git_repo.parent / "worktrees"),
    )
    app = make_app(options)
    async with app.run_test(size=SIZE) as pilot:
        coordinator = await start(pilot)
        await feed_event(coordinator, happened("model.checked"))
        await settle(pilot)
        assert f"{PROVIDER_ID}/{MODEL_ID}" in str(app.query_one(SessionPane).border_subtitle)
        assert not app.query_one(AttentionBar).has_class("-problem")
        await quit_app(pilot)


async def test_a_prompt_sent_while_connecting_is_sent_once_connected(
    tmp_path: Path,
    git_repo: Path,
    opencode_bin: str,
    opencode_env_without_snapshots: dict[str, str],
) -> None:
    """Enter in the first second, while OpenCode is still starting, loses nothing."""
    options = RunOptions(
        repo_root=git_repo,
        prompt="",
        opencode_bin=opencode_bin,
        server_env=opencode_env_without_snapshots,
        store_path=tmp_path / "state.db",
        settings=CoordinatorSettings(worktree_root=tmp_path / "worktrees"),
    )
    app = make_app(options)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        prompt = app.query_one(PromptBox)
        prompt.insert("hello early bird")
        await pilot.press("enter")
        assert app.control is None, "the test must send before the team runs"
        assert "connecting" in " ".join(str(n.message) for n in app._notifications)
        coordinator = await start(pilot)
        await feed_event(coordinator, happened("member.idle", "lead"))
        lead = coordinator.lead
        assert lead is not None
        said = await coordinator.client.messages(lead.session_id, lead.directory)
        texts = [getattr(part, "text", "") for message in said for part in message.parts]
        assert any("hello early bird" in text for text in texts), texts
        await quit_app(pilot)
