"""The server's life in the app's loop, and the HTTP layer: tokens, methods, paths."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from ensemble_tui.core.team.identity import Caller
from ensemble_tui.tools.server import TeamToolServer
from tests.tools.conftest import RecordingOperations, mcp_session, post_jsonrpc


async def test_start_binds_a_free_local_port_and_stop_releases_it(
    operations: RecordingOperations,
) -> None:
    first = TeamToolServer(operations, rate=1.0, burst=1)
    with pytest.raises(RuntimeError, match="not started"):
        _ = first.url
    async with first, TeamToolServer(operations, rate=1.0, burst=1) as second:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/mcp", first.url)
        assert first.url != second.url
        url = first.url
        assert (await post_jsonrpc(url, "alice-token", "ping")).status_code == 200
    with pytest.raises(httpx.ConnectError):
        await post_jsonrpc(url, "alice-token", "ping")
    await first.stop()  # a second stop is harmless

    await first.start()  # and the server can be started again
    try:
        assert (await post_jsonrpc(first.url, "alice-token", "ping")).status_code == 200
    finally:
        await first.stop()


async def test_a_started_server_cannot_be_started_twice(tool_server: TeamToolServer) -> None:
    with pytest.raises(RuntimeError, match="already started"):
        await tool_server.start()


async def test_operations_run_in_the_callers_loop_and_nothing_is_printed(
    tool_server: TeamToolServer,
    operations: RecordingOperations,
    capfd: pytest.CaptureFixture[str],
) -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def team_status(caller: Caller) -> str:
        loops.append(asyncio.get_running_loop())
        return "all idle"

    operations.team_status = team_status  # type: ignore[method-assign]
    async with mcp_session(tool_server.url, "alice-token") as session:
        await session.call_tool("team_status", {})
    assert loops == [asyncio.get_running_loop()]
    out, err = capfd.readouterr()
    assert (out, err) == ("", ""), "the TUI owns the terminal: no access log, no banner"


@pytest.mark.parametrize(
    "authorization", [None, "Bearer nope", "Bearer", "Basic YWxpY2UtdG9rZW4=", "alice-token"]
)
async def test_a_request_without_a_known_bearer_token_gets_401(
    tool_server: TeamToolServer, operations: RecordingOperations, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(headers=headers) as http:
        posted = await http.post(
            tool_server.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                  "params": {"name": "team_status", "arguments": {}}},
            headers={"Accept": "application/json, text/event-stream"},
        )  # fmt: skip
        got = await http.get(tool_server.url, headers={"Accept": "text/event-stream"})
    for response in (posted, got):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "valid ensemble-tui member token" in response.json()["error"]["message"]
    assert operations.calls == []


async def test_the_mcp_client_cannot_connect_with_an_unknown_token(
    tool_server: TeamToolServer,
) -> None:
    with pytest.raises(ExceptionGroup) as caught:
        async with mcp_session(tool_server.url, "nope"):
            pass
    assert caught.group_contains(httpx.HTTPStatusError, match="401 Unauthorized")


async def test_a_revoked_token_is_refused_from_the_next_request_on(
    tool_server: TeamToolServer, operations: RecordingOperations
) -> None:
    params = {"name": "team_status", "arguments": {}}
    allowed = await post_jsonrpc(tool_server.url, "alice-token", "tools/call", params)
    assert allowed.status_code == 200
    assert allowed.json()["result"]["content"][0]["text"] == "team_status ok"

    del operations.tokens["alice-token"]
    refused = await post_jsonrpc(tool_server.url, "alice-token", "tools/call", params)
    assert refused.status_code == 401
    assert len(operations.calls) == 1


async def test_a_failing_identify_refuses_the_request_and_is_logged(
    tool_server: TeamToolServer,
    operations: RecordingOperations,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def identify(token: str) -> Caller | None:
        raise OSError("token store unavailable")

    operations.identify = identify  # type: ignore[method-assign]
    response = await post_jsonrpc(tool_server.url, "alice-token", "tools/list")
    assert response.status_code == 401
    assert any(record.exc_info for record in caplog.records)


async def test_only_post_on_the_mcp_path_is_served(tool_server: TeamToolServer) -> None:
    auth = {"Authorization": "Bearer alice-token"}
    async with httpx.AsyncClient(headers=auth) as http:
        stream = await http.get(tool_server.url, headers={"Accept": "text/event-stream"})
        delete = await http.delete(tool_server.url)
        elsewhere = await http.post(tool_server.url.replace("/mcp", "/other"), json={})
    assert stream.status_code == delete.status_code == 405
    assert stream.headers["allow"] == "POST"
    assert elsewhere.status_code == 404


async def test_stop_does_not_wait_forever_for_a_call_in_flight(
    operations: RecordingOperations,
) -> None:
    entered = asyncio.Event()
    cancelled = asyncio.Event()

    async def team_results(caller: Caller) -> str:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    operations.team_results = team_results  # type: ignore[method-assign]
    server = TeamToolServer(operations, rate=1.0, burst=1, shutdown_grace=1)
    await server.start()
    params = {"name": "team_results", "arguments": {}}
    call = asyncio.create_task(post_jsonrpc(server.url, "alice-token", "tools/call", params))
    await entered.wait()
    async with asyncio.timeout(10):
        await server.stop()
    assert cancelled.is_set(), "the operation is cancelled once the grace time is over"
    try:
        response = await call
    except httpx.HTTPError:
        return
    assert response.status_code == 500, "the client gets no answer of substance"
