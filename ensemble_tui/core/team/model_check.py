"""Which model the lead will use, and whether OpenCode can use it: checked at start.

Without it a new user with no provider configured types a prompt and watches it retry
for minutes. At start the coordinator reads the server's providers (`GET /config/providers`,
`GET /provider`) and its configured model, and says at once what is missing and the fix;
a retry whose cause is a connection failure or a refused key is an error at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.models import ModelRef, Providers

FIX = (
    "Fix: run `opencode auth login` to connect a provider (then start ensemble-tui again), "
    "or name a model you have with `--set default_model=provider/model` "
    "(or `default_model` in ensemble.toml)."
)

# What OpenCode's retry messages say when retrying cannot help: the provider cannot be
# reached, or it refused the key.
_HOPELESS = (
    "cannot connect to api",
    "unable to connect",
    "econnrefused",
    "enotfound",
    "getaddrinfo",
    "fetch failed",
    "connection refused",
    "unauthorized",
    "forbidden",
    "invalid api key",
    "invalid x-api-key",
    "api key",
    "authentication",
    "401",
    "403",
)


def hopeless_retry(message: str) -> bool:
    """Whether a retry's message says a connection failure or an authentication error."""
    lowered = message.lower()
    return any(sign in lowered for sign in _HOPELESS)


@dataclass(frozen=True)
class ModelCheck:
    """The model the lead will use (None if none can be named) and what is wrong with it."""

    model: str | None
    source: str
    """Where the model came from: `default_model`, OpenCode's `model` setting, or its default."""
    problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        """The problem and the fix, in one paragraph for a toast, a line or a log."""
        return f"{self.problem} {FIX}" if self.problem else f"{self.model} ({self.source})"


def _opencode_default(configured: Providers) -> str | None:
    """The model OpenCode picks when none is named: its first usable provider's default."""
    for provider in configured.providers:
        model = configured.default.get(provider.id)
        if model:
            return f"{provider.id}/{model}"
    return None


def judge(
    wanted: str | None,
    configured_model: str | None,
    configured: Providers,
    connected: list[str],
) -> ModelCheck:
    """Name the model the lead will use and say what is wrong with it (pure, for tests)."""
    model: str | None
    if wanted:
        model, source = wanted, "default_model"
    elif configured_model:
        model, source = configured_model, "OpenCode's `model` setting"
    else:
        model, source = _opencode_default(configured), "OpenCode's default"
    usable = {provider.id: provider for provider in configured.providers}
    if not usable and not connected:
        return ModelCheck(model, source, "No model provider is connected in OpenCode.")
    if model is None:
        return ModelCheck(None, source, "OpenCode names no default model.")
    try:
        ref = ModelRef.parse(model)
    except ValueError as error:
        return ModelCheck(model, source, f"The model {model!r} ({source}) is not valid: {error}.")
    provider = usable.get(ref.provider_id)
    if provider is None:
        known = ", ".join(sorted(usable)) or "none"
        return ModelCheck(
            model,
            source,
            f"The model {model} ({source}) cannot be used: its provider {ref.provider_id} "
            f"is not connected (connected: {known}).",
        )
    if provider.models and ref.model_id not in provider.models:
        return ModelCheck(
            model,
            source,
            f"The model {model} ({source}) cannot be used: {provider.name or provider.id} "
            f"has no model {ref.model_id}.",
        )
    return ModelCheck(model, source)


async def check_model(client: OpenCodeClient, directory: str, wanted: str | None) -> ModelCheck:
    """Read the server's providers and configured model, and judge the lead's model."""
    configured, config = await asyncio.gather(
        client.providers(directory), client.server_config(directory)
    )
    # The catalogue (`GET /provider`: about a second of OpenCode's CPU on every call, at
    # every start) says which providers are connected, which matters only when none is
    # usable.
    connected = (
        [] if configured.providers else (await client.provider_catalogue(directory)).connected
    )
    return judge(wanted, config.model, configured, connected)
