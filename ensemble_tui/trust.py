"""Which repositories' `.ensemble.toml` files the user has trusted, by their content.

A repository's settings file comes with the repository, so whoever wrote the
repository wrote it. Settings that name a program to run or a folder outside the
repository (`opencode_bin`, `worktree_root`) are therefore taken from it only once
the user has trusted that file, as direnv and mise do: `ensemble-tui trust` records
the file's SHA-256, and any later change to the file needs trusting again.

The record is a JSON file in the data folder, readable by the user only.
"""

from __future__ import annotations

import os
from pathlib import Path

from ensemble_tui.errors import EnsembleError
from ensemble_tui.paths import data_home, private_dir

TRUST_FILE = "trusted-settings.json"


class TrustError(EnsembleError):
    """The record of trusted files cannot be read or written; the message says why."""


def trust_file() -> Path:
    """Where the SHA-256 of each trusted settings file is kept."""
    return data_home() / TRUST_FILE


def content_digest(content: bytes) -> str:
    """The SHA-256 of a settings file's bytes, as recorded."""
    import hashlib  # Here, as json below: only a settings file to check needs them.

    return hashlib.sha256(content).hexdigest()


def _load() -> dict[str, str]:
    import json

    path = trust_file()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise TrustError(
            f"the list of trusted settings files {path} cannot be read: {error}"
        ) from None
    try:
        recorded = json.loads(raw)
    except json.JSONDecodeError as error:
        raise TrustError(
            f"the list of trusted settings files {path} is damaged ({error}); "
            "delete it and trust your repositories again"
        ) from None
    if not isinstance(recorded, dict):
        raise TrustError(f"the list of trusted settings files {path} is damaged; delete it")
    return {str(key): str(value) for key, value in recorded.items()}


def _save(recorded: dict[str, str]) -> None:
    import json
    import tempfile

    path = trust_file()
    private_dir(path.parent)
    # Written beside the old one and renamed over it, so a crash leaves one or the other.
    descriptor, temporary = tempfile.mkstemp(prefix=".trusted-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(recorded, file, indent=1, sort_keys=True)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def trusted_digest(settings_file: Path) -> str | None:
    """The digest recorded when the user trusted `settings_file`, or None if never."""
    return _load().get(str(settings_file.resolve()))


def is_trusted(settings_file: Path, content: bytes) -> bool:
    """Whether the user trusted `settings_file` with exactly this content."""
    return trusted_digest(settings_file) == content_digest(content)


def trust(settings_file: Path, content: bytes) -> str:
    """Record `content` as the trusted content of `settings_file`; return its digest."""
    recorded = _load()
    digest = content_digest(content)
    recorded[str(settings_file.resolve())] = digest
    _save(recorded)
    return digest


def untrust(settings_file: Path) -> bool:
    """Forget that `settings_file` was trusted; return whether it was."""
    recorded = _load()
    if recorded.pop(str(settings_file.resolve()), None) is None:
        return False
    _save(recorded)
    return True
