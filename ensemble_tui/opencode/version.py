"""Which OpenCode versions ensemble-tui can drive."""

from __future__ import annotations

import re

from ensemble_tui.errors import EnsembleError

TESTED_VERSION = "1.18.33"
MINIMUM_VERSION = (1, 18)
INSTALL_COMMAND = f"npm install -g opencode-ai@{TESTED_VERSION}"


class UnsupportedVersionError(EnsembleError):
    """The OpenCode server's version is one ensemble-tui cannot drive."""


def parse_version(text: str) -> tuple[int, ...] | None:
    """Parse "1.18.33" (optionally with a leading "v" or a suffix) into numbers."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if match is None:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def check_supported_version(version: str) -> None:
    """Refuse a version outside 1.18 to 1.x: 2.x dropped the API this client uses."""
    parsed = parse_version(version)
    needed = f"OpenCode 1.18 or a later 1.x release ({TESTED_VERSION} is the tested one)"
    if parsed is None:
        raise UnsupportedVersionError(
            f"OpenCode reported version {version!r}, which is not a version number; "
            f"ensemble-tui needs {needed}. Install it with: {INSTALL_COMMAND}"
        )
    if parsed[0] != MINIMUM_VERSION[0] or parsed[:2] < MINIMUM_VERSION:
        raise UnsupportedVersionError(
            f"OpenCode {version} is not supported: ensemble-tui needs {needed}. "
            f"Install it with: {INSTALL_COMMAND}"
        )
