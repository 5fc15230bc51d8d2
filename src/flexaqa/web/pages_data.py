"""The dataset in the browser: samples with filters, a sample page with its views in sync with the pose and sEMG
traces and the phase boundaries, and every annotator's labels beside the final ones."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from flexaqa.annotation import AnnotationError
from flexaqa.data import open_dataset
from flexaqa.skeleton import FLEX21_JOINTS, UP_AXIS
from flexaqa.web.deps import need, render
from flexaqa.web.labelstore import store
from flexaqa.web.security import safe_join
from flexaqa.web.settings import WebError

router = APIRouter()
TRACE_POINTS = 400  # samples per trace sent to the browser
POSE_TRACES = ("head", "right_wrist", "left_wrist", "right_hip", "right_knee", "left_knee")


def dataset(request: Request):
    """The app's dataset, opened once (``--data``); a clear error when the app runs without one."""
    settings = request.app.state.settings
    if settings.data is None:
        raise WebError("this server was started without --data: there is no dataset to show")
    if request.app.state.dataset is None:
        request.app.state.dataset = open_dataset(settings.data)
    return request.app.state.dataset


def filter_records(records, *, action="", subject="", skill="", min_score=None, max_score=None):
    out = []
    for r in records:
        if action and r.action != action:
            continue
        if subject and r.subject != subject:
            continue
        if skill and r.skill != skill:
            continue
        if min_score is not None and (r.score is None or r.score < min_score):
            continue
        if max_score is not None and (r.score is None or r.score > max_score):
            continue
        out.append(r)
    return out


@router.get("/data")
def data_index(
    request: Request,
    action: str = "",
    subject: str = "",
    skill: str = "",
    min_score: float | None = None,
    max_score: float | None = None,
    page: int = 1,
):
    need(request, "data")
    ds = dataset(request)
    rows = filter_records(
        ds.records, action=action, subject=subject, skill=skill, min_score=min_score, max_score=max_score
    )
    per_page = 100
    page = max(1, page)
    return render(
        request,
        "data.html",
        title="Dataset",
        root=str(ds.root),
        layout=ds.layout,
        rows=rows[(page - 1) * per_page : page * per_page],
        total=len(rows),
        page=page,
        pages=max(1, -(-len(rows) // per_page)),
        filters={
            "action": action,
            "subject": subject,
            "skill": skill,
            "min_score": min_score,
            "max_score": max_score,
        },
        actions=sorted({r.action for r in ds.records}),
        subjects=sorted({r.subject for r in ds.records if r.subject}),
        skills=sorted({r.skill for r in ds.records if r.skill}),
    )


def sample_views(ds, rec) -> list[dict]:
    """Each view's video as a path relative to the dataset (served by ``/media``), where the layout has one."""
    if not hasattr(ds, "video_path") or rec.trial is None:
        return []
    views = []
    for name, view in ds.views(rec.trial).items():
        path = ds.video_path(rec.trial, name)
        if path is not None and path.is_file():
            rel = path.resolve().relative_to(ds.root.resolve()).as_posix()
            views.append({"name": name, "kind": view.kind, "url": f"/media/{rel}"})
    return views


@router.get("/data/{sample_id}")
def sample_page(request: Request, sample_id: str):
    need(request, "data")
    ds = dataset(request)
    rec = ds.record(sample_id)
    ann = ds.annotation(rec) if hasattr(ds, "annotation") else None
    stored = stored_labels(request, rec.id)
    return render(
        request,
        "sample.html",
        title=f"Sample {rec.id}",
        rec=rec,
        ann=ann,
        views=sample_views(ds, rec),
        stored=stored,
    )


def stored_labels(request: Request, sample_id: str) -> list:
    """The sample's current labels in the annotation store (none when this database holds no project)."""
    try:
        labels = store(request)
    except AnnotationError:
        return []
    return [row for (s, _a, _st), row in sorted(labels.current_labels().items()) if s == sample_id]


def _downsample(t: np.ndarray, y: np.ndarray) -> tuple[list, list]:
    step = max(1, len(t) // TRACE_POINTS)
    return np.round(t[::step], 4).tolist(), np.round(y[::step], 4).tolist()


@router.get("/api/samples/{sample_id}/traces")
def sample_traces(request: Request, sample_id: str):
    """Pose heights of a few joints and sEMG envelopes of the repetition on the trial clock, with its phases."""
    from flexaqa.signal.emg import rms_envelope  # scipy

    need(request, "data")
    ds = dataset(request)
    sample = ds.load(sample_id, modalities=("pose", "emg"))
    kf = sample.annotation.keyframes if sample.annotation else None
    out = {
        "id": sample.id,
        "start": kf.start if kf else sample.record.start,
        "end": kf.end if kf else sample.record.end,
        "phases": [{"name": p.name, "start": p.start, "end": p.end} for p in (kf.phases if kf else ())],
        "pose": [],
        "emg": [],
        "missing": list(sample.missing),
    }
    t0 = out["start"] or 0.0
    if sample.pose is not None:
        t = t0 + np.arange(len(sample.pose.data)) / sample.pose.rate
        for name in POSE_TRACES:
            j = FLEX21_JOINTS.index(name)
            ts, ys = _downsample(t, np.asarray(sample.pose.data[:, j, UP_AXIS], float))
            out["pose"].append({"name": f"{name} height", "t": ts, "y": ys, "unit": sample.pose.unit or "m"})
    if sample.emg is not None:
        x = np.asarray(sample.emg.data, float)
        env = rms_envelope(x - x.mean(axis=0), sample.emg.rate)
        t = t0 + np.arange(len(x)) / sample.emg.rate
        names = sample.emg.names or tuple(f"ch{i}" for i in range(x.shape[1]))
        for i, name in enumerate(names):
            ts, ys = _downsample(t, env[:, i])
            out["emg"].append({"name": name, "t": ts, "y": ys, "unit": sample.emg.unit})
    return out


@router.get("/media/{path:path}")
def media(request: Request, path: str):
    """A file of the dataset (videos); the path can never leave the dataset folder."""
    need(request, "data")
    target = safe_join(dataset(request).root, path)
    if not target.is_file():
        raise WebError(f"{path}: no such file in the dataset")
    return FileResponse(target)
