"""Writing the OpenCode configuration that names the scripted model as its provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ensemble_tui.demo.scripted_model import MODEL_ID, PROVIDER_ID


def scripted_provider_config(base_url: str) -> dict[str, Any]:
    """Return an `opencode.json` document whose default model is the scripted model."""
    model = f"{PROVIDER_ID}/{MODEL_ID}"
    return {
        "$schema": "https://opencode.ai/config.json",
        "model": model,
        "small_model": model,
        "autoupdate": False,
        "share": "disabled",
        "provider": {
            PROVIDER_ID: {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Scripted model",
                "options": {"baseURL": base_url, "apiKey": "not-needed"},
                "models": {
                    MODEL_ID: {
                        "name": "Scripted model",
                        "tool_call": True,
                        "limit": {"context": 200000, "output": 8192},
                    }
                },
            }
        },
    }


def write_scripted_provider_config(folder: Path, base_url: str) -> Path:
    """Write `opencode.json` for the scripted model into *folder* (created if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "opencode.json"
    target.write_text(json.dumps(scripted_provider_config(base_url), indent=2) + "\n")
    return target
