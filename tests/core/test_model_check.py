"""Which model the lead will use, and what a new user with none is told (issue 12, item 1)."""

from __future__ import annotations

from pathlib import Path

import httpx

from ensemble_tui.core.team.model_check import FIX, check_model, judge
from ensemble_tui.demo.scripted_model import MODEL_ID, PROVIDER_ID
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.models import Providers
from ensemble_tui.opencode.server import OpenCodeServer


def providers(**models: list[str]) -> Providers:
    return Providers.model_validate(
        {
            "providers": [
                {"id": name, "name": name.title(), "models": {m: {"id": m} for m in ids}}
                for name, ids in models.items()
            ],
            "default": {name: ids[0] for name, ids in models.items() if ids},
        }
    )


def test_no_connected_provider_is_said_with_the_fix() -> None:
    found = judge(None, None, providers(), [])
    assert not found.usable
    assert found.problem == "No model provider is connected in OpenCode."
    assert found.describe().endswith(FIX)
    assert "opencode auth login" in found.describe()
    assert "--set default_model=provider/model" in found.describe()


def test_the_model_comes_from_the_setting_then_opencode_then_its_default() -> None:
    usable = providers(opencode=["big-pickle", "other"], scripted=["scripted"])
    assert judge("scripted/scripted", "opencode/other", usable, ["opencode"]).model == (
        "scripted/scripted"
    )
    configured = judge(None, "opencode/other", usable, ["opencode"])
    assert (configured.model, configured.source) == ("opencode/other", "OpenCode's `model` setting")
    default = judge(None, None, usable, ["opencode"])
    assert (default.model, default.source) == ("opencode/big-pickle", "OpenCode's default")
    assert default.usable


def test_a_model_of_an_unconnected_provider_or_unknown_id_is_named() -> None:
    usable = providers(opencode=["big-pickle"])
    other = judge("anthropic/claude", None, usable, ["opencode"])
    assert other.problem is not None
    assert "anthropic/claude (default_model)" in other.problem
    assert "provider anthropic is not connected (connected: opencode)" in other.problem
    unknown = judge("opencode/nope", None, usable, ["opencode"])
    assert unknown.problem is not None
    assert "Opencode has no model nope" in unknown.problem
    bad = judge("no-slash", None, usable, ["opencode"])
    assert bad.problem is not None
    assert "is not valid" in bad.problem


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes every request on and notes its path."""

    def __init__(self) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


async def test_with_a_usable_provider_the_catalogue_is_not_read(
    opencode_server: OpenCodeServer, git_repo: Path
) -> None:
    """`GET /provider` costs OpenCode about a second of CPU on every call; it only says
    which providers are connected, which matters when none is usable."""
    transport = RecordingTransport()
    url, password = opencode_server.url, opencode_server.password
    async with OpenCodeClient(url, password=password, transport=transport) as client:
        found = await check_model(client, str(git_repo), None)
    assert found.usable, found.describe()
    assert found.model == f"{PROVIDER_ID}/{MODEL_ID}"
    assert "/config/providers" in transport.paths
    assert "/provider" not in transport.paths
