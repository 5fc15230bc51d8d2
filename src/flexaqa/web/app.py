"""``create_app``: the FastAPI application behind ``flexaqa serve``.

Server-rendered pages (Jinja2) with every script and style shipped in ``static/``; a JSON API beside them.
Sessions are signed cookies that expire (``session_seconds``), every state-changing request carries the
session's CSRF token, roles decide what a user may see and do, request bodies are capped at
``max_upload_bytes`` while they arrive, and the coach queue is bounded (a full queue answers 429).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from flexaqa import __version__
from flexaqa.errors import FlexaqaError
from flexaqa.web import api, pages_annotate, pages_coach, pages_data, pages_kg
from flexaqa.web.coaching import run_job
from flexaqa.web.deps import Forbidden, LoginRequired, render, wants_json
from flexaqa.web.jobs import JobQueue, QueueFullError
from flexaqa.web.security import PathOutsideError
from flexaqa.web.settings import WebSettings
from flexaqa.web.users import UserStore

HERE = Path(__file__).parent


class BodyLimit:
    """ASGI middleware: refuse a request body over ``limit`` bytes as it arrives (413), not after."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _too_large(self.limit)(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, _too_large_text(self.limit))
            return message

        return await self.app(scope, counted, send)


def _too_large_text(limit: int) -> str:
    return f"the upload is larger than the limit of {limit / 2**20:.0f} MiB"


def _too_large(limit: int):
    return JSONResponse({"detail": _too_large_text(limit)}, status_code=413)


def create_app(settings: WebSettings, *, runner=None) -> FastAPI:
    """The app for ``settings``; ``runner`` replaces the coach job's work (defaults to the real coach)."""
    app = FastAPI(title="flexaqa", version=__version__, docs_url="/api/docs", redoc_url=None)
    app.state.settings = settings
    app.state.users = UserStore(settings.db)
    app.state.jobs = JobQueue(
        settings.jobs, runner or run_job, size=settings.queue_size, workers=settings.workers
    )
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.dataset = None
    app.state.labels = None  # the annotation store, opened on first use
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key or secrets.token_urlsafe(32),
        max_age=settings.session_seconds,
        same_site="strict",
        https_only=settings.secure_cookies,
        session_cookie="flexaqa_session",
    )
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (pages_coach, pages_kg, pages_data, pages_annotate, api):
        app.include_router(module.router)
    _add_handlers(app)
    app.router.on_shutdown.append(app.state.jobs.close)
    return app


def _add_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired):
        if wants_json(request):
            return JSONResponse({"detail": "log in first (POST /api/login)"}, status_code=401)
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden):
        msg = f"your role may not do this (needs '{exc.permission}')"
        if wants_json(request):
            return JSONResponse({"detail": msg}, status_code=403)
        return render(request, "error.html", 403, title="Not allowed", message=msg)

    @app.exception_handler(QueueFullError)
    async def _full(request: Request, exc: QueueFullError):
        if wants_json(request):
            return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": "30"})
        return render(request, "error.html", 429, title="The coach is busy", message=str(exc))

    @app.exception_handler(PathOutsideError)
    async def _outside(request: Request, exc: PathOutsideError):
        return JSONResponse({"detail": "not found"}, status_code=404)

    @app.exception_handler(FlexaqaError)
    async def _bad(request: Request, exc: FlexaqaError):
        if wants_json(request):
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return render(request, "error.html", 400, title="That did not work", message=str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if wants_json(request) or exc.status_code == 413:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return render(request, "error.html", exc.status_code, title="That did not work", message=exc.detail)
