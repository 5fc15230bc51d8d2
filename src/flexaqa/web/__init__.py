"""The web app behind ``flexaqa serve``: coach a video in the browser, browse the FKG and the data, annotate.

``import flexaqa.web`` is light; FastAPI, SQLAlchemy and argon2 are imported when the app is built
(extra ``web``).
"""

from flexaqa.web.settings import WebError, WebSettings

__all__ = ["WebError", "WebSettings", "create_app"]


def create_app(settings: WebSettings, **kw):
    """The FastAPI app for ``settings`` (see :func:`flexaqa.web.app.create_app`)."""
    from flexaqa.web.app import create_app as build

    return build(settings, **kw)
