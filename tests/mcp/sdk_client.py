"""The official MCP Python SDK's client, set up as an application sets it up.

The SDK's ``OAuthClientProvider`` (an ``httpx2.Auth``) does the whole RFC 9728 / RFC 8414 /
RFC 7591 / OAuth 2.1 dance by itself once the MCP server answers 401 (or 403
``insufficient_scope``); an application only gives it a :class:`MemoryTokenStorage`, and a
``redirect_handler`` and a ``callback_handler`` for the user's browser. Here
:class:`ProviderBrowser` is that browser: it logs the user in on the provider's own pages
(:meth:`~tests.oidc.provider.OpenIDProvider.follow_authorization`) and hands the redirect's
parameters back, unchecked, for the SDK to check.

:class:`HttpLog` is an ``httpx2`` event hook on the SDK's HTTP client: every request the SDK
sent (MCP messages, metadata discovery, registration, token requests) with its answer's
status, in order. The authorization request itself goes through the browser, not this
client, and is in :attr:`ProviderBrowser.authorization_urls`.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

import anyio.to_thread
import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from mcp.types import TextContent

from tests.oidc.provider import OpenIDProvider

REDIRECT_URI: Final = "http://127.0.0.1/mcp-client/callback"
"""The client's loopback redirect URI (RFC 8252). Nothing listens there: the browser stops
at the redirect and gives its parameters to the callback handler."""
CLIENT_NAME: Final = "jwt-middleware MCP test client"
TIMEOUT_SECONDS: Final = 15.0


class MemoryTokenStorage:
    """The SDK's ``TokenStorage`` protocol, in memory; a test may seed it with a token (and
    a client registration) as if from an earlier run."""

    def __init__(
        self,
        tokens: OAuthToken | None = None,
        client_info: OAuthClientInformationFull | None = None,
    ) -> None:
        self.tokens = tokens
        self.client_info = client_info

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class ProviderBrowser:
    """The user's browser, as the SDK's ``redirect_handler`` (:meth:`open`) and
    ``callback_handler`` (:meth:`callback`): ``login`` logs in and consents on the
    provider's pages."""

    def __init__(self, provider: OpenIDProvider, *, login: str) -> None:
        self._provider = provider
        self._login = login
        self._redirect: dict[str, str] | None = None
        self.authorization_urls: list[str] = []

    async def open(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        follow = functools.partial(
            self._provider.follow_authorization,
            authorization_url,
            redirect_uri=REDIRECT_URI,
            login=self._login,
        )
        self._redirect = await anyio.to_thread.run_sync(follow)

    async def callback(self) -> AuthorizationCodeResult:
        redirect, self._redirect = self._redirect, None
        if redirect is None:
            raise RuntimeError("the callback came before the browser was opened")
        if "code" not in redirect:
            raise RuntimeError(f"the provider refused the authorization: {redirect}")
        return AuthorizationCodeResult(
            code=redirect["code"], state=redirect.get("state"), iss=redirect.get("iss")
        )


@dataclass(frozen=True)
class SentRequest:
    """One request the SDK's HTTP client sent; ``message`` is the JSON-RPC method of an MCP
    message (``None`` for anything else)."""

    method: str
    url: str
    status: int
    message: str | None


class HttpLog:
    """An ``httpx2`` response hook that records :class:`SentRequest` s in order."""

    def __init__(self) -> None:
        self.sent: list[SentRequest] = []

    async def __call__(self, response: httpx2.Response) -> None:
        request = response.request
        message: str | None = None
        # The transport marks its bodiless GET and DELETE as JSON too; an exception here
        # would fail the SDK's request, so only a body is read.
        is_json = request.headers.get("content-type", "").startswith("application/json")
        if is_json and request.content:
            body = json.loads(request.content)
            if isinstance(body, dict) and "jsonrpc" in body:
                message = body.get("method")
        self.sent.append(
            SentRequest(request.method, str(request.url), response.status_code, message)
        )


def oauth_provider(
    resource: str, storage: MemoryTokenStorage, browser: ProviderBrowser
) -> OAuthClientProvider:
    """The SDK's OAuth support for the MCP server at ``resource``, for a client that
    registers itself (RFC 7591) with :data:`REDIRECT_URI`."""
    metadata = OAuthClientMetadata(redirect_uris=[REDIRECT_URI], client_name=CLIENT_NAME)
    return OAuthClientProvider(
        resource,
        metadata,
        storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )


@asynccontextmanager
async def connected(
    resource: str, auth: OAuthClientProvider, log: HttpLog, *, mode: str = "auto"
) -> AsyncIterator[Client]:
    """An ``mcp.Client`` on the SDK's streamable HTTP transport to ``resource``, its HTTP
    client authenticated by ``auth`` and watched by ``log``. ``mode`` is the SDK's: "auto"
    (the 2026 protocol's ``server/discover``) or "legacy" (``initialize``, a session, the
    GET event stream and a DELETE at the end)."""
    async with (
        httpx2.AsyncClient(
            auth=auth,
            event_hooks={"response": [log]},
            timeout=TIMEOUT_SECONDS,
            trust_env=False,
        ) as http,
        Client(
            streamable_http_client(resource, http_client=http),
            mode=mode,
            read_timeout_seconds=TIMEOUT_SECONDS,
        ) as client,
    ):
        yield client


@dataclass(frozen=True)
class Session:
    """What one run of the SDK's client sent and got: the tools it listed, the texts of
    ``add(2, 3)`` and ``whoami()``; and its browser and storage, to look at afterwards."""

    sent: list[SentRequest]
    browser: ProviderBrowser
    storage: MemoryTokenStorage
    tool_names: list[str]
    sum_text: str
    whoami_text: str


def run_session(
    resource: str, browser: ProviderBrowser, storage: MemoryTokenStorage, *, mode: str = "auto"
) -> Session:
    """Connect the SDK's client to the MCP server at ``resource`` (logging in through
    ``browser`` if it has to), list the tools, call ``add`` and ``whoami``."""
    log = HttpLog()
    auth = oauth_provider(resource, storage, browser)

    async def session() -> tuple[list[str], str, str]:
        async with connected(resource, auth, log, mode=mode) as client:
            tools = await client.list_tools()
            added = await client.call_tool("add", {"a": 2, "b": 3})
            me = await client.call_tool("whoami", {})
        return [tool.name for tool in tools.tools], _text(added.content), _text(me.content)

    names, sum_text, whoami_text = asyncio.run(session())
    return Session(log.sent, browser, storage, names, sum_text, whoami_text)


def _text(content: Sequence[object]) -> str:
    [block] = content
    if not isinstance(block, TextContent):
        raise TypeError(f"expected one text block, got {block!r}")
    return block.text
