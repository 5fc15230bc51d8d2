"""Log in and out, the home page, and the coach: upload a video, follow the job, read the report."""

from __future__ import annotations

import json
import shutil

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse

from flexaqa.kg import load_kg
from flexaqa.web.coaching import UPLOAD_SUFFIXES, check_upload, input_suffix
from flexaqa.web.deps import check_csrf, need, render
from flexaqa.web.jobs import Job
from flexaqa.web.security import login
from flexaqa.web.settings import WebError

router = APIRouter()
JOB_FILES = {"report.json": "application/json", "report.html": "text/html", "annotated.mp4": "video/mp4"}


def _actions():
    return load_kg().actions


def _safe_next(url: str | None) -> str:
    # only local paths: "//evil.example" or "https://..." would leave the app
    return url if url and url.startswith("/") and not url.startswith("//") else "/"


@router.get("/")
def home(request: Request):
    return render(request, "index.html", title="flexaqa")


@router.get("/login")
def login_page(request: Request, next: str = "/"):
    return render(request, "login.html", title="Log in", next=_safe_next(next), failed=False)


@router.post("/login")
def login_submit(
    request: Request,
    name: str = Form(...),
    password: str = Form(...),
    csrf_token: str = Form(""),
    next: str = Form("/"),
):
    check_csrf(request, csrf_token)
    user = request.app.state.users.verify(name, password)
    if user is None:
        return render(request, "login.html", 401, title="Log in", next=_safe_next(next), failed=True)
    login(request.session, user.name)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("")):
    check_csrf(request, csrf_token)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def start_job(
    request: Request,
    upload: UploadFile,
    action: str,
    owner: str,
    kind: str = "video",
    fps: float | None = None,
) -> Job:
    """Check the action, take a queue slot (429 when none), store the upload and queue the coach on it.
    ``kind`` is ``video`` or a keypoint format (``coco``, ``mediapipe``, ``h36m``, ``flex``)."""
    act = load_kg().action(action)  # unknown action: KGError -> 400 before anything is stored
    name = (upload.filename or "upload")[:200]
    suffix = input_suffix(kind, name)
    if fps is not None and not 0 < fps <= 1000:
        raise WebError(f"fps must be in (0, 1000], got {fps}")
    queue = request.app.state.jobs
    job_id = queue.reserve()
    try:
        folder = queue.folder(job_id)
        folder.mkdir(parents=True)
        path = folder / f"input{suffix}"  # the client's file name is shown, never used as a path
        with open(path, "wb") as fh:
            shutil.copyfileobj(upload.file, fh, length=1 << 20)
        job = Job(
            id=job_id,
            owner=owner,
            action=act.slug,
            input_name=name,
            kind="video" if kind == "video" else "pose",
            pose_format=None if kind == "video" else kind,
            fps=fps,
        )
        check_upload(path, job)  # decoded or read, not judged by its name
    except BaseException:
        shutil.rmtree(queue.folder(job_id), ignore_errors=True)
        queue.release()
        raise
    return queue.submit(job, path)


def visible_job(request: Request, job_id: str):
    user = need(request, "coach")
    job = request.app.state.jobs.get(job_id)
    if job is None or (job.owner != user.name and not user.can("admin")):
        raise WebError(f"no job {job_id!r} of yours")
    return job


@router.get("/coach")
def coach_page(request: Request):
    user = need(request, "coach")
    owner = None if user.can("admin") else user.name
    return render(
        request,
        "coach.html",
        title="Coach",
        actions=_actions(),
        formats=UPLOAD_SUFFIXES,
        jobs=request.app.state.jobs.list(owner),
    )


@router.post("/coach")
def coach_submit(
    request: Request,
    file: UploadFile = File(...),
    action: str = Form(...),
    kind: str = Form("video"),
    fps: str = Form(""),
    csrf_token: str = Form(""),
):
    user = need(request, "coach")
    check_csrf(request, csrf_token)
    job = start_job(request, file, action, user.name, kind, _fps(fps))
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _fps(text: str) -> float | None:
    try:
        return float(text) if text.strip() else None
    except ValueError:
        raise WebError(f"fps: expected a number, got {text!r}") from None


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str):
    job = visible_job(request, job_id)
    folder = request.app.state.jobs.folder(job)
    report = None
    if (folder / "report.json").is_file():
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return render(
        request,
        "job.html",
        title=f"Coach job {job.id}",
        job=job,
        report=report,
        has_video=(folder / "annotated.mp4").is_file(),
    )


@router.get("/jobs/{job_id}/files/{name}")
def job_file(request: Request, job_id: str, name: str):
    job = visible_job(request, job_id)
    if name not in JOB_FILES:
        raise WebError(f"a job has no file {name!r}; it has {', '.join(JOB_FILES)}")
    path = request.app.state.jobs.folder(job) / name
    if not path.is_file():
        raise WebError(f"job {job.id} has no {name} (state: {job.state})")
    return FileResponse(path, media_type=JOB_FILES[name], filename=f"{job.id}-{name}")
