"""Sessions, CSRF tokens, roles and safe paths for the web app."""

from __future__ import annotations

import hmac
import secrets
import time
from pathlib import Path

from flexaqa.web.settings import WebError


class PathOutsideError(WebError):
    """A path from a request points outside the folder it must stay in (HTTP 404)."""


def safe_join(root: Path, relative: str) -> Path:
    """``root / relative`` resolved, refused unless it stays inside ``root`` (symlinks and ``..`` included)."""
    base = Path(root).resolve()
    if "\x00" in relative or Path(relative).is_absolute():
        raise PathOutsideError(f"{relative!r}: not a path inside the dataset")
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise PathOutsideError(f"{relative!r}: not a path inside the dataset")
    return target


def csrf_token(session: dict) -> str:
    """The session's CSRF token (made on first use); every form and every state-changing API call sends it."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_ok(session: dict, sent: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and sent) and hmac.compare_digest(str(expected), str(sent))


def login(session: dict, name: str) -> None:
    session.clear()  # a new session id for a new login: no fixation
    session["user"] = name
    session["since"] = int(time.time())
    csrf_token(session)


def session_user_name(session: dict, max_age: int) -> str | None:
    """The logged-in user's name, or ``None`` when there is none or the login is older than ``max_age`` s."""
    name, since = session.get("user"), session.get("since")
    if not name or not isinstance(since, int) or time.time() - since > max_age:
        return None
    return name
