"""The answers of `opencode --version`, remembered between starts.

Asking OpenCode its version costs about a second of CPU and two of waiting, at every
start, before the server is even started. The answer cannot change while the binary
stays the same file, so a supported version is kept in a small JSON file in the cache
folder, keyed by the binary's resolved path and checked against its size, modification
time and inode: an upgrade or a reinstall rewrites the file, which is then asked again.

Only a supported version is kept: a binary that failed or was refused is asked every
time, so the user's fix is seen at the next start. A stale entry cannot make
ensemble-tui drive an unsupported server either: every client checks the version the
running server reports when it connects (`OpenCodeClient.connect`, and through it
`ServerPool.connect`), whatever this file says.

The file is a cache: one that cannot be read, is not JSON or has another shape is
ignored (and replaced at the next write), and a write that fails is only logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from ensemble_tui.paths import cache_home, private_dir

log = logging.getLogger(__name__)

CACHE_FILE = "opencode-versions.json"
FORMAT = 1
MAX_ENTRIES = 16
"""Binaries remembered at most; the oldest entries go first."""


def cache_path() -> Path:
    return cache_home() / CACHE_FILE


def _identity(binary: str) -> tuple[str, dict[str, int]] | None:
    """The binary's resolved path and what tells this very file apart; None if unseen."""
    real = os.path.realpath(binary)
    try:
        found = os.stat(real)
    except OSError:
        return None
    return real, {"size": found.st_size, "mtime_ns": found.st_mtime_ns, "inode": found.st_ino}


def _entries() -> dict[str, Any]:
    """The file's entries by path; empty when it is missing, unreadable or malformed."""
    try:
        loaded = json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(loaded, dict) or loaded.get("format") != FORMAT:
        return {}
    entries = loaded.get("binaries")
    return entries if isinstance(entries, dict) else {}


def cached_version(binary: str) -> str | None:
    """The version remembered for this very binary file, or None (ask it)."""
    identity = _identity(binary)
    if identity is None:
        return None
    real, stamp = identity
    entry = _entries().get(real)
    if not isinstance(entry, dict) or any(entry.get(k) != v for k, v in stamp.items()):
        return None
    version = entry.get("version")
    return version if isinstance(version, str) and version else None


def remember_version(binary: str, version: str) -> None:
    """Keep a supported *version* for the binary; a failure to write is logged, no more."""
    identity = _identity(binary)
    if identity is None:
        return
    real, stamp = identity
    entries = {
        path: entry
        for path, entry in _entries().items()
        if path != real and isinstance(entry, dict)
    }
    entries[real] = {**stamp, "version": version}
    kept = dict(list(entries.items())[-MAX_ENTRIES:])
    text = json.dumps({"format": FORMAT, "binaries": kept}, indent=1)
    import tempfile  # Here: the screen imports this module before its first frame.

    temporary: str | None = None
    try:
        folder = private_dir(cache_home())
        descriptor, temporary = tempfile.mkstemp(prefix=".versions-", dir=folder)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, folder / CACHE_FILE)
        temporary = None
    except OSError as error:
        log.info("could not remember the OpenCode version in %s: %s", cache_path(), error)
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
