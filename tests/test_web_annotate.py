"""Annotation through the web app: each annotator sees only their own tasks, labels land in the store, reviews
and the majority vote; the JSON API for labels."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("alembic")
from fastapi.testclient import TestClient

from web_helpers import form_token, login, make_app

LABELLERS = ("ann", "bob", "admin")  # three stage-1 labellers per sample, as in the paper
REVIEWERS = ("rev",)


@pytest.fixture
def project(tmp_path):
    from flexaqa.annotation import AnnotationStore
    from flexaqa.testing import make_tiny_dataset

    tiny = make_tiny_dataset(tmp_path / "data", subjects=("P01",), actions=("squat",), reps=2)
    db = f"sqlite:///{tmp_path / 'web.sqlite'}"
    labels = AnnotationStore.create(db)
    labels.init_project(tiny.root, labellers=3, reviewers=1)
    labels.assign(list(LABELLERS), list(REVIEWERS))
    app = make_app(tmp_path, data=tiny.root)
    return app, labels, tiny


def _label(client, sample: str, slots: list[str], feedback: str = ""):
    page = client.get(f"/annotate/label/{sample}")
    assert page.status_code == 200, page.text
    data = {"csrf_token": form_token(page.text), "slot": slots, "feedback": feedback}
    return client.post(f"/annotate/label/{sample}", data=data, follow_redirects=False)


def test_label_review_resolve_through_the_pages(project):
    app, labels, tiny = project
    sample = tiny.sample_ids[0]
    clients = {name: TestClient(app) for name in (*LABELLERS, *REVIEWERS)}
    for name, c in clients.items():
        login(c, name)
    page = clients["ann"].get(f"/annotate/label/{sample}").text
    assert 'value="AK44:ET056"' in page and 'data-weight="10"' in page and 'id="live-score"' in page
    marks = {"ann": ["AK44:ET056"], "bob": ["AK44:ET056", "AK44:ET055"], "admin": ["AK44:ET056"]}
    for name in LABELLERS:
        r = _label(clients[name], sample, marks[name], feedback=f"{name} says knees")
        assert r.status_code == 303, r.text
    current = labels.current_labels(stage=1)
    assert {a: set(row.slots) for (s, a, _st), row in current.items() if s == sample} == {
        a: set(m) for a, m in marks.items()
    }
    assert current[(sample, "ann", 1)].feedback == "ann says knees"
    assert current[(sample, "ann", 1)].source == "web"

    rev = clients["rev"]
    home = rev.get("/annotate").text
    assert f'href="/annotate/review/{sample}"' in home
    review = rev.get(f"/annotate/review/{sample}").text
    assert "marked by 3 of 3" in review and "marked by 1 of 3" in review
    r = rev.post(
        f"/annotate/review/{sample}",
        data={"csrf_token": form_token(review), "verdict": "accept"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert labels.current_labels(stage=2)[(sample, "rev", 2)].verdict == "accept"

    admin = clients["admin"]
    status = admin.get("/annotate").text
    r = admin.post("/annotate/resolve", data={"csrf_token": form_token(status)})
    assert r.status_code == 200 and "new decision(s) written" in r.text
    assert tuple(labels.resolutions()[sample]["slots"]) == (
        "AK44:ET056",
    )  # the majority of the three labellers
    for c in clients.values():
        c.close()


def test_each_annotator_sees_only_their_own_tasks(project):
    app, labels, tiny = project
    assigned = labels.assignments()
    with TestClient(app) as rev:
        login(rev, "rev")
        sample = tiny.sample_ids[0]
        assert "rev" not in assigned[(sample, 1)]
        r = rev.get(f"/annotate/label/{sample}")
        assert r.status_code == 400 and "not among your tasks" in r.text
        r = rev.post(f"/annotate/label/{sample}", data={"csrf_token": form_token(rev.get("/annotate").text)})
        assert r.status_code == 400
        assert not [k for k in labels.current_labels() if k[1] == "rev"]  # nothing written
    with TestClient(app) as ann:
        login(ann, "ann")
        mine = ann.get("/api/tasks").json()
        assert {t["sample"] for t in mine["label"]} == {
            s for (s, st), p in assigned.items() if st == 1 and "ann" in p
        }
        assert (
            ann.get(f"/annotate/review/{tiny.sample_ids[0]}").status_code == 403
        )  # annotators do not review


def test_label_api_and_its_refusals(project):
    app, labels, tiny = project
    sample = tiny.sample_ids[1]
    with TestClient(app) as ann:
        token = login(ann, "ann")
        h = {"X-CSRF-Token": token}
        assert ann.post("/api/labels", json={"sample_id": sample, "slots": ["AK44:ET056"]}).status_code == 403
        r = ann.post("/api/labels", json={"sample_id": sample, "slots": ["AK44:ET056"]}, headers=h)
        assert r.status_code == 201
        again = ann.post("/api/labels", json={"sample_id": sample, "slots": []}, headers=h)
        assert again.status_code == 400 and "revise" in again.json()["detail"]
        bad = ann.post(
            "/api/labels", json={"sample_id": sample, "slots": ["AK01:ET001"], "revise": True}, headers=h
        )
        assert (
            bad.status_code == 400
            and "ET001" in bad.json()["detail"]
            and "nothing written" in bad.json()["detail"]
        )
        revised = ann.post("/api/labels", json={"sample_id": sample, "slots": [], "revise": True}, headers=h)
        assert revised.status_code == 201
    rows = [r for r in labels.history(sample) if r.annotator == "ann"]
    assert [r.slots for r in rows] == [("AK44:ET056",), ()] and rows[1].replaces == rows[0].id


def test_corrected_repetition_boundaries_are_stored(project):
    app, labels, tiny = project
    sample = tiny.sample_ids[0]
    task = next(t for t in labels.tasks() if t.sample_id == sample)
    with TestClient(app) as ann:
        login(ann, "ann")
        page = ann.get(f"/annotate/label/{sample}").text
        data = {"csrf_token": form_token(page), "rep_start": task.start + 0.1, "rep_end": task.end - 0.1}
        assert ann.post(f"/annotate/label/{sample}", data=data, follow_redirects=False).status_code == 303
    seg = labels.segments(task.trial)[(task.trial, task.rep)]
    assert seg["start"] == pytest.approx(task.start + 0.1) and seg["annotator"] == "ann"


def test_annotate_without_a_project_says_what_to_run(tmp_path):
    with TestClient(make_app(tmp_path)) as c:
        login(c, "ann")
        r = c.get("/annotate")
        assert r.status_code == 400 and "flexaqa annotate init" in r.text
