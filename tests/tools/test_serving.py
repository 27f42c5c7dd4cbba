"""The MCP SDK's server parts imported without the SDK's package roots (start-up CPU),
and the roots still there for whoever asks for their names (checked in a fresh Python)."""

from __future__ import annotations

from tests.conftest import fresh_python

PROBE = """
import sys
from ensemble_tui.tools import serving
print(sorted(name for name in ("mcp.client.session", "mcp.server.fastmcp", "pydantic_settings")
             if name in sys.modules))
from mcp import ClientSession, types
from mcp.server import FastMCP, Server
import mcp.client.session, mcp.server.fastmcp
print(ClientSession is mcp.client.session.ClientSession, types is serving.types,
      Server is serving.Server, FastMCP is mcp.server.fastmcp.FastMCP)
"""


def test_the_tool_servers_parts_load_alone_and_the_roots_on_demand() -> None:
    before, after = fresh_python(PROBE).stdout.strip().splitlines()[-2:]
    assert before == "[]"
    assert after == "True True True True"


def test_a_package_already_imported_is_left_as_it_is() -> None:
    probe = (
        "import mcp, sys\n"
        "from ensemble_tui.tools.serving import defer_package_root\n"
        "defer_package_root('mcp')\n"
        "print(sys.modules['mcp'] is mcp, 'mcp.client.session' in sys.modules)\n"
    )
    assert fresh_python(probe).stdout.strip() == "True True"
