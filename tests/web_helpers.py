"""Shared pieces of the web app's tests: an app with four users, and logging in through the real form."""

from __future__ import annotations

import re

PASSWORDS = {"admin": "admin-pass-1", "ann": "ann-pass-12", "bob": "bob-pass-12", "rev": "rev-pass-12"}
ROLES = {"admin": "admin", "ann": "annotator", "bob": "annotator", "rev": "reviewer"}


def make_app(tmp_path, **kw):
    from flexaqa.web import WebSettings, create_app

    runner = kw.pop("runner", None)
    settings = WebSettings(db=f"sqlite:///{tmp_path / 'web.sqlite'}", jobs=tmp_path / "jobs", **kw)
    app = create_app(settings, runner=runner)
    for name, role in ROLES.items():
        if app.state.users.get(name) is None:
            app.state.users.add(name, PASSWORDS[name], role)
    return app


def form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, name: str) -> str:
    """Log in through the HTML form; returns the session's CSRF token."""
    token = form_token(client.get("/login").text)
    r = client.post(
        "/login",
        data={"name": name, "password": PASSWORDS[name], "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return form_token(client.get("/coach").text)
