"""The MCP SDK's server parts, imported without running the SDK's package roots.

A package's `__init__` runs before any of its submodules, and the SDK's two import far
more than the tool server uses: `mcp/__init__.py` the client side (sessions, stdio,
SSE), `mcp/server/__init__.py` FastMCP with pydantic-settings and python-dotenv.
`defer_package_root` registers such a package with its root left unrun until a name
only the root defines is asked for, so importing a submodule costs just that submodule:
about a seventh of a second of CPU less at every start of a team (`run`, the screen).
`from mcp import ClientSession` still works afterwards, paying for the root then.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any


def defer_package_root(name: str) -> None:
    """Make the package *name* importable with its `__init__` run on first need: when
    a name that none of its imported submodules provides is looked up on it. Nothing
    changes if it is already imported, or not installed (the import that follows says so)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def run_root(attribute: str) -> Any:
        # Once: the root's own names (and what it imports) take this hook's place.
        del package.__dict__["__getattr__"]
        loader.exec_module(package)
        return getattr(package, attribute)

    package.__dict__["__getattr__"] = run_root
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    if parent:
        # As an import would have done: the parent package knows its subpackage.
        sys.modules[parent].__dict__[child] = package


defer_package_root("mcp")
defer_package_root("mcp.server")

# `import a.b as c`, never `from a import b`: that would ask the deferred root for b.
import mcp.types as types  # noqa: E402
from mcp.server.lowlevel.server import Server  # noqa: E402
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager  # noqa: E402

__all__ = ["Server", "StreamableHTTPSessionManager", "defer_package_root", "types"]
