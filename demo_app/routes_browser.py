"""The browser sign-in: a page at ``/app``, a login form that sets the token in a cookie,
and the to-dos read and added with it.

The login sets two cookies: :data:`TOKEN_COOKIE`, the access token (``HttpOnly``: no
script reads it), and :data:`CSRF_COOKIE`, a random value the page copies into the
:data:`CSRF_HEADER` of the requests it sends (the double-submit check). Both are
``__Host-``, ``Secure`` and ``Path=/``: a browser then accepts them only from this host, over
HTTPS, or from ``http://localhost``, which browsers treat as secure. The middleware reads
the token from the cookie when no ``Authorization`` header comes (see
:func:`browser_authenticator`), and refuses an unsafe request by cookie that the page did
not send (``docs/cookies.md``).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Final

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from jwt_middleware.fastapi import CurrentClaims
from jwt_middleware.verification.bearer import BearerAuthenticator
from jwt_middleware.verification.cookie import CookieAuthenticator, CsrfGuard
from jwt_middleware.verification.verifier import TokenVerifier

from .context import DemoContext, get_context
from .routes_auth import authenticate, end_sessions, token_for

__all__ = [
    "BROWSER_PUBLIC_RULES",
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "TOKEN_COOKIE",
    "browser_authenticator",
    "router",
]

TOKEN_COOKIE: Final = "__Host-demo-token"  # noqa: S105 - a cookie name, not a secret
CSRF_COOKIE: Final = "__Host-demo-csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
#: The page and the login form need no token.
BROWSER_PUBLIC_RULES: Final = ("GET /app", "POST /app/login")

router = APIRouter(prefix="/app", include_in_schema=False)


def browser_authenticator(verifier: TokenVerifier) -> CookieAuthenticator:
    """The demo's one authenticator: the bearer header when it comes (the API clients, the
    Swagger UI), else the :data:`TOKEN_COOKIE` cookie, whose unsafe requests must carry
    the double-submit header (or come from this very origin)."""
    return CookieAuthenticator(
        verifier,
        cookie_name=TOKEN_COOKIE,
        csrf=CsrfGuard(header=CSRF_HEADER, cookie_name=CSRF_COOKIE),
        header=BearerAuthenticator(verifier),
    )


@router.get("")
def page() -> HTMLResponse:
    """The sign-in form, or the signed-in user's to-dos."""
    return HTMLResponse(_PAGE, headers={"Cache-Control": "no-store"})


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    """Check the password and set the cookies; back to the page either way.

    A form posted from another site is refused: it would sign the visitor in to someone
    else's account (login CSRF), and the middleware does not guard a public path.
    """
    if request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Sign in from this site's page.")
    context: DemoContext = get_context(request)
    with Session(context.engine) as session:
        try:
            user = authenticate(context, session, email, password)
        except HTTPException:
            return RedirectResponse("/app?failed", status.HTTP_303_SEE_OTHER)
        response = RedirectResponse("/app", status.HTTP_303_SEE_OTHER)
        tokens = token_for(user, context, response, scopes="todos:read todos:write")
    lifetime = tokens.expires_in
    response.set_cookie(
        TOKEN_COOKIE,
        tokens.access_token,
        max_age=lifetime,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    response.set_cookie(
        CSRF_COOKIE,
        secrets.token_urlsafe(32),
        max_age=lifetime,
        path="/",
        secure=True,
        httponly=False,  # the page reads it, to send it back in the header
        samesite="strict",
    )
    return response


@router.post("/logout")
async def logout(request: Request, claims: CurrentClaims) -> Response:
    """End the session (as ``/auth/logout`` does) and clear both cookies."""
    await end_sessions(claims, get_context(request), set())
    response = RedirectResponse("/app", status.HTTP_303_SEE_OTHER)
    for name in (TOKEN_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=True, httponly=name == TOKEN_COOKIE)
    return response


_PAGE: Final = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>jwt-middleware demo</title></head>
<body>
<h1>jwt-middleware demo</h1>
<form id="signin" method="post" action="/app/login" hidden>
  <p id="failed" hidden>Incorrect email or password.</p>
  <label>Email <input name="email" type="email" autocomplete="username" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"
    required></label>
  <button>Sign in</button>
</form>
<section id="todos" hidden>
  <p>Signed in as <span id="who"></span>.</p>
  <ul id="list"></ul>
  <form id="add"><input name="title" required> <button>Add</button></form>
  <form method="post" action="/app/logout"><button>Sign out</button></form>
</section>
<script>
const csrf = () => {
  const pair = document.cookie.split("; ").find((c) => c.startsWith("__Host-demo-csrf="));
  return pair ? pair.slice(pair.indexOf("=") + 1) : "";
};
async function show() {
  const me = await fetch("/auth/me");
  if (me.status !== 200) {
    document.getElementById("signin").hidden = false;
    document.getElementById("failed").hidden = !location.search.includes("failed");
    return;
  }
  document.getElementById("who").textContent = (await me.json()).email;
  const page = await (await fetch("/todos")).json();
  const list = document.getElementById("list");
  list.replaceChildren(...page.items.map((todo) => {
    const item = document.createElement("li");
    item.textContent = todo.title;
    return item;
  }));
  document.getElementById("todos").hidden = false;
}
document.getElementById("add").addEventListener("submit", async (event) => {
  event.preventDefault();
  const title = event.target.elements.title.value;
  await fetch("/todos", {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf()},
    body: JSON.stringify({title}),
  });
  event.target.reset();
  await show();
});
show();
</script>
</body>
</html>
"""
