"""What every page and API route needs: the logged-in user and their permission, the CSRF check, rendering."""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse

from flexaqa import __version__
from flexaqa.web.security import csrf_ok, csrf_token, session_user_name
from flexaqa.web.users import User


class LoginRequired(Exception):
    """Raised by :func:`need`; HTML requests are sent to the login page, API requests get 401."""


class Forbidden(Exception):
    def __init__(self, permission: str):
        self.permission = permission


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def current_user(request: Request) -> User | None:
    name = session_user_name(request.session, request.app.state.settings.session_seconds)
    return None if name is None else request.app.state.users.get(name)


def need(request: Request, permission: str | None = None) -> User:
    """The logged-in user, who must hold ``permission``."""
    user = current_user(request)
    if user is None:
        raise LoginRequired()
    if permission is not None and not user.can(permission):
        raise Forbidden(permission)
    return user


def check_csrf(request: Request, sent: str | None = None) -> None:
    """Refuse (403) a state-changing request without the session's token (form field or X-CSRF-Token)."""
    if not csrf_ok(request.session, sent or request.headers.get("x-csrf-token")):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    context.update(
        request=request,
        user=current_user(request),
        csrf=csrf_token(request.session),
        version=__version__,
        has_data=request.app.state.settings.data is not None,
    )
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code)
