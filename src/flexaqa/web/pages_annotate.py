"""Annotation in the browser: each annotator's own stage-1 tasks and stage-2 reviews, written to the annotation
store (:class:`flexaqa.annotation.AnnotationStore`, the same database as ``--db``); the admin's status and
resolve. The store does every check (assigned, slots of the action, not twice, no review of one's own labels)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from flexaqa.annotation import AnnotationError, LabelSubmission
from flexaqa.kg import load_kg
from flexaqa.web.deps import check_csrf, need, render
from flexaqa.web.labelstore import store
from flexaqa.web.pages_data import dataset, sample_views
from flexaqa.web.pages_kg import action_tree

router = APIRouter()


def my_tasks(labels, name: str) -> dict:
    assigned = labels.assignments()
    current = labels.current_labels()
    stage1 = [
        {"sample": s, "done": (s, name, 1) in current}
        for (s, stage), people in sorted(assigned.items())
        if stage == 1 and name in people
    ]
    waiting = [
        s
        for (s, stage), people in sorted(assigned.items())
        if stage == 2 and name in people and (s, name, 2) not in current
    ]
    ready = set(labels.pending_reviews(name))
    return {
        "label": stage1,
        "review": [{"sample": s, "ready": s in ready} for s in waiting],
        "reviewed": sorted(s for (s, a, st) in current if a == name and st == 2),
    }


def task_of(labels, sample_id: str):
    for t in labels.tasks():
        if t.sample_id == sample_id:
            return t
    raise AnnotationError(f"no sample {sample_id!r} in this annotation project")


def assigned_to(labels, sample_id: str, name: str, stage: int) -> None:
    if name not in labels.assignments().get((sample_id, stage), ()):
        what = "label" if stage == 1 else "review"
        raise AnnotationError(f"{sample_id} is not among your tasks to {what}")


@router.get("/annotate")
def annotate_home(request: Request):
    user = need(request, "label")
    labels = store(request)
    status = labels.status().to_dict() if user.can("admin") else None
    return render(
        request, "annotate.html", title="Annotate", tasks=my_tasks(labels, user.name), status=status
    )


def _form_context(request: Request, sample_id: str, name: str, stage: int) -> dict:
    labels = store(request)
    assigned_to(labels, sample_id, name, stage)
    task = task_of(labels, sample_id)
    act = load_kg().action(task.action)
    ds = dataset(request)
    rec = ds.record(sample_id)
    mine = labels.current_labels().get((sample_id, name, stage))
    return {
        "task": task,
        "action": act,
        "tree": action_tree(act),
        "views": sample_views(ds, rec)[:1],
        "mine": mine,
        "segment": labels.segments(task.trial).get((task.trial, task.rep)),
    }


@router.get("/annotate/label/{sample_id}")
def label_page(request: Request, sample_id: str):
    user = need(request, "label")
    ctx = _form_context(request, sample_id, user.name, 1)
    return render(request, "label.html", title=f"Label {sample_id}", **ctx)


def save_label(request: Request, name: str, sample_id: str, slots, feedback: str, start, end, revise: bool):
    labels = store(request)
    assigned_to(labels, sample_id, name, 1)
    task = task_of(labels, sample_id)
    sub = LabelSubmission(
        name, 1, sample_id, tuple(slots), feedback=feedback, repetition=task.rep, source="web"
    )
    labels.submit([sub], revise=revise)
    if (
        start is not None
        and end is not None
        and (abs(start - task.start) > 1e-6 or abs(end - task.end) > 1e-6)
    ):
        labels.add_segments(
            task.trial, [(task.rep, float(start), None, float(end))], kind="correction", annotator=name
        )


@router.post("/annotate/label/{sample_id}")
async def label_submit(request: Request, sample_id: str):
    user = need(request, "label")
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    start, end = (float(form[k]) if form.get(k) else None for k in ("rep_start", "rep_end"))
    save_label(
        request,
        user.name,
        sample_id,
        form.getlist("slot"),
        str(form.get("feedback", "")),
        start,
        end,
        revise=form.get("revise") == "1",
    )
    return RedirectResponse("/annotate?saved=" + sample_id, status_code=303)


@router.get("/annotate/review/{sample_id}")
def review_page(request: Request, sample_id: str):
    user = need(request, "review")
    ctx = _form_context(request, sample_id, user.name, 2)
    labels = store(request)
    stage1 = [row for (s, _a, st), row in sorted(labels.current_labels(stage=1).items()) if s == sample_id]
    counts: dict[str, int] = {}
    for row in stage1:
        for slot in row.slots:
            counts[slot] = counts.get(slot, 0) + 1
    return render(
        request,
        "review.html",
        title=f"Review {sample_id}",
        stage1=stage1,
        counts=counts,
        ready=sample_id in labels.pending_reviews(user.name),
        **ctx,
    )


@router.post("/annotate/review/{sample_id}")
async def review_submit(request: Request, sample_id: str):
    user = need(request, "review")
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    labels = store(request)
    assigned_to(labels, sample_id, user.name, 2)
    accept = form.get("verdict") == "accept"
    slots = () if accept else tuple(form.getlist("slot"))
    labels.submit([LabelSubmission(user.name, 2, sample_id, slots, accept=accept, source="web")])
    return RedirectResponse("/annotate?reviewed=" + sample_id, status_code=303)


@router.post("/annotate/resolve")
async def resolve(request: Request):
    need(request, "admin")
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    decisions, written = store(request).resolve()
    resolved = sum(d.status == "resolved" for d in decisions)
    return render(
        request, "resolved.html", title="Resolved", decisions=decisions, written=written, resolved=resolved
    )


class LabelBody(BaseModel):
    sample_id: str
    slots: list[str] = []
    feedback: str = ""
    revise: bool = False


@router.post("/api/labels", status_code=201)
def api_label(request: Request, body: LabelBody):
    """Save the caller's stage-1 label of one of their tasks (header ``X-CSRF-Token``)."""
    user = need(request, "label")
    check_csrf(request)
    save_label(request, user.name, body.sample_id, body.slots, body.feedback, None, None, body.revise)
    return {"sample_id": body.sample_id, "annotator": user.name, "slots": body.slots}


@router.get("/api/tasks")
def api_tasks(request: Request):
    user = need(request, "label")
    return my_tasks(store(request), user.name)
