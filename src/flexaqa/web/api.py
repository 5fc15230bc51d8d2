"""The JSON API: log in, the FKG penalty score, coach jobs.

State-changing calls (POST) carry the session's CSRF token in ``X-CSRF-Token``; ``POST /api/login`` returns it.
"""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from flexaqa.kg import score
from flexaqa.web.deps import check_csrf, need
from flexaqa.web.pages_coach import start_job, visible_job
from flexaqa.web.security import csrf_token, login

router = APIRouter(prefix="/api")


class LoginBody(BaseModel):
    name: str
    password: str


class ScoreBody(BaseModel):
    action: str
    errors: list[str] = []


@router.post("/login")
def api_login(request: Request, body: LoginBody):
    user = request.app.state.users.verify(body.name, body.password)
    if user is None:
        return JSONResponse({"detail": "wrong user name or password"}, status_code=401)
    login(request.session, user.name)
    return {"user": user.name, "role": user.role, "csrf_token": csrf_token(request.session)}


@router.post("/score")
def api_score(body: ScoreBody):
    """The FKG penalty score of ``errors`` (``ET005`` or ``AK04:ET005``) for ``action``, with its breakdown."""
    return score(body.action, body.errors).to_dict()


@router.post("/coach", status_code=202)
def api_coach(
    request: Request,
    file: UploadFile = File(...),
    action: str = Form(...),
    kind: str = Form("video"),
    fps: float | None = Form(None),
):
    """Queue the coach on a video (``kind=video``) or a keypoint file (``kind=coco|mediapipe|h36m|flex``)."""
    user = need(request, "coach")
    check_csrf(request)
    job = start_job(request, file, action, user.name, kind, fps)
    return {**job.to_dict(), "url": f"/api/jobs/{job.id}"}


@router.get("/jobs")
def api_jobs(request: Request):
    user = need(request, "coach")
    owner = None if user.can("admin") else user.name
    return [j.to_dict() for j in request.app.state.jobs.list(owner)]


@router.get("/jobs/{job_id}")
def api_job(request: Request, job_id: str):
    job = visible_job(request, job_id)
    out = job.to_dict()
    folder = request.app.state.jobs.folder(job)
    out["files"] = {
        name: f"/jobs/{job.id}/files/{name}"
        for name in ("report.json", "report.html", "annotated.mp4")
        if (folder / name).is_file()
    }
    return out
