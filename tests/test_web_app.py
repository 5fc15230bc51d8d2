"""The web app through its HTTP interface (FastAPI's TestClient): login, sessions, CSRF, roles, the FKG score,
coach jobs (real coach on a rendered video), the bounded queue, upload checks, the dataset pages, safe paths."""

from __future__ import annotations

import json
import threading
import time

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from flexaqa.kg import score
from web_helpers import PASSWORDS, form_token, login, make_app


@pytest.fixture
def client(tmp_path):
    with TestClient(make_app(tmp_path)) as c:
        yield c


def test_pages_need_a_login_and_the_api_says_401(client):
    r = client.get("/coach", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/coach"
    assert client.get("/api/jobs").status_code == 401
    assert client.get("/kg").status_code == 200  # the knowledge graph is public


def test_wrong_password_is_refused_and_logout_ends_the_session(client):
    token = form_token(client.get("/login").text)
    r = client.post("/login", data={"name": "ann", "password": "nope-nope", "csrf_token": token})
    assert r.status_code == 401 and "Wrong user name or password" in r.text
    r = client.post("/login", data={"name": "nobody", "password": "x" * 10, "csrf_token": token})
    assert r.status_code == 401
    token = login(client, "ann")
    assert "ann (annotator)" in client.get("/coach").text
    client.post("/logout", data={"csrf_token": token})
    assert client.get("/coach", follow_redirects=False).status_code == 303


def test_every_form_and_api_write_needs_the_csrf_token(client):
    r = client.post("/login", data={"name": "ann", "password": PASSWORDS["ann"]})
    assert r.status_code == 403 and "CSRF" in r.text
    token = login(client, "ann")
    files = {"file": ("a.mp4", b"0" * 10, "video/mp4")}
    assert client.post("/coach", data={"action": "squat"}, files=files).status_code == 403
    assert (
        client.post("/coach", data={"action": "squat", "csrf_token": "forged"}, files=files).status_code
        == 403
    )
    assert client.post("/api/coach", data={"action": "squat"}, files=files).status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    assert token  # the right token is accepted: see the coach tests


def test_passwords_are_stored_as_argon2_hashes(tmp_path):
    import sqlalchemy as sa

    app = make_app(tmp_path)
    with app.state.users.engine.connect() as con:
        stored = con.execute(sa.text("select password_hash from web_users where name = 'ann'")).scalar_one()
    assert stored.startswith("$argon2") and PASSWORDS["ann"] not in stored


def test_a_session_expires(tmp_path, monkeypatch):
    import flexaqa.web.security as security

    with TestClient(make_app(tmp_path, session_seconds=60)) as c:
        login(c, "ann")
        assert c.get("/coach", follow_redirects=False).status_code == 200
        later = time.time() + 61
        monkeypatch.setattr(security.time, "time", lambda: later)
        assert c.get("/coach", follow_redirects=False).status_code == 303


def test_score_api_is_the_fkg_penalty_score(client):
    r = client.post("/api/score", json={"action": "A01", "errors": ["ET001", "AK04:ET008"]})
    assert r.status_code == 200
    assert r.json() == json.loads(json.dumps(score("A01", ["ET001", "AK04:ET008"]).to_dict()))
    bad = client.post("/api/score", json={"action": "squat", "errors": ["ET999"]})
    assert bad.status_code == 400 and "ET999" in bad.json()["detail"]


def test_kg_pages_show_weights_cues_muscles_and_search(client):
    page = client.get("/kg/squat").text
    assert "AK44" in page and "Knees caving inward." in page and "Push your knees out" in page
    assert "vastus lateralis" in page and "quadriceps" in page
    hits = client.get("/kg", params={"q": "knees caving"}).text
    assert "ET056" in hits
    assert client.get("/kg/squat/graph.svg").headers["content-type"] == "image/svg+xml"
    assert client.get("/kg/no-such-exercise").status_code == 400


class Gate:
    """A coach runner that waits for the test to open it: jobs stay running while the queue is checked."""

    def __init__(self):
        self.open = threading.Event()

    def __call__(self, job, folder, path, progress):
        progress(0.5, "waiting")
        assert self.open.wait(20)
        (folder / "report.json").write_text("{}")
        return 88.0


def _fake_video(tmp_path):
    import numpy as np

    from flexaqa.data.video import write_mp4

    return write_mp4(tmp_path / "clip.mp4", np.full((4, 32, 32, 3), 90, np.uint8), 10).read_bytes()


def test_a_full_queue_answers_429_and_frees_up(tmp_path):
    gate = Gate()
    video = _fake_video(tmp_path)
    with TestClient(make_app(tmp_path, runner=gate, queue_size=1, workers=1)) as c:
        token = login(c, "ann")
        headers = {"X-CSRF-Token": token}
        first = c.post(
            "/api/coach", data={"action": "squat"}, files={"file": ("a.mp4", video)}, headers=headers
        )
        assert first.status_code == 202
        second = c.post(
            "/api/coach", data={"action": "squat"}, files={"file": ("b.mp4", video)}, headers=headers
        )
        assert second.status_code == 429 and "queue is full" in second.json()["detail"]
        assert second.headers["retry-after"] == "30"
        gate.open.set()
        job = c.app.state.jobs.wait(first.json()["id"])
        assert job.state == "done" and job.score == 88.0
        again = c.post(
            "/api/coach", data={"action": "squat"}, files={"file": ("c.mp4", video)}, headers=headers
        )
        assert again.status_code == 202


def test_uploads_are_checked_by_decoding_and_by_size(tmp_path):
    with TestClient(make_app(tmp_path, runner=Gate(), max_upload_bytes=50_000)) as c:
        headers = {"X-CSRF-Token": login(c, "ann")}
        r = c.post(
            "/api/coach",
            data={"action": "squat"},
            files={"file": ("set.mp4", b"not a video " * 50)},
            headers=headers,
        )
        assert r.status_code == 400 and "set.mp4: not a readable video" in r.json()["detail"]
        assert not [p for p in (tmp_path / "jobs").iterdir() if not p.name.startswith(".")]  # nothing kept
        assert c.app.state.jobs.active == 0  # the slot was given back
        big = c.post(
            "/api/coach",
            data={"action": "squat"},
            files={"file": ("big.mp4", b"0" * 80_000)},
            headers=headers,
        )
        assert big.status_code == 413 and "limit" in big.json()["detail"]

        def chunks():  # no Content-Length: the limit must hold while the body arrives
            for _ in range(40):
                yield b"0" * 4096

        streamed = c.post(
            "/api/coach",
            content=chunks(),
            headers={**headers, "Content-Type": "multipart/form-data; boundary=x"},
        )
        assert streamed.status_code == 413
        assert (
            c.post("/api/coach", data={"action": "sqat"}, files={"file": ("a.mp4", b"x")}, headers=headers)
            .json()["detail"]
            .startswith("unknown action")
        )


def test_a_user_sees_only_their_own_jobs(tmp_path):
    gate = Gate()
    gate.open.set()
    video = _fake_video(tmp_path)
    app = make_app(tmp_path, runner=gate)
    with TestClient(app) as ann, TestClient(app) as bob, TestClient(app) as admin:
        r = ann.post(
            "/api/coach",
            data={"action": "squat"},
            files={"file": ("a.mp4", video)},
            headers={"X-CSRF-Token": login(ann, "ann")},
        )
        job_id = r.json()["id"]
        app.state.jobs.wait(job_id)
        login(bob, "bob")
        assert bob.get(f"/api/jobs/{job_id}").status_code == 400
        assert bob.get(f"/jobs/{job_id}/files/report.json").status_code == 400
        assert bob.get("/api/jobs").json() == []
        login(admin, "admin")
        assert admin.get(f"/api/jobs/{job_id}").json()["state"] == "done"
        assert ann.get(f"/jobs/{job_id}/files/../../web.sqlite").status_code in (400, 404)


def test_jobs_survive_a_restart_and_an_unfinished_one_is_marked_interrupted(tmp_path):
    gate = Gate()
    gate.open.set()
    video = _fake_video(tmp_path)
    with TestClient(make_app(tmp_path, runner=gate)) as c:
        r = c.post(
            "/api/coach",
            data={"action": "squat"},
            files={"file": ("a.mp4", video)},
            headers={"X-CSRF-Token": login(c, "ann")},
        )
        done_id = r.json()["id"]
        c.app.state.jobs.wait(done_id)
    stuck = tmp_path / "jobs" / "abc"
    stuck.mkdir()
    meta = json.loads((tmp_path / "jobs" / done_id / "job.json").read_text())
    (stuck / "job.json").write_text(json.dumps({**meta, "id": "abc", "state": "running", "score": None}))
    app = make_app(tmp_path, runner=gate)
    assert app.state.jobs.get(done_id).state == "done"
    assert app.state.jobs.get("abc").state == "interrupted"
    assert json.loads((stuck / "job.json").read_text())["state"] == "interrupted"


@pytest.mark.slow
def test_a_real_coach_job_gives_the_score_of_the_cli(tmp_path):
    pytest.importorskip("mediapipe")
    from flexaqa.coach.pipeline import coach_video
    from flexaqa.testing import rendered_set_video

    path, _ = rendered_set_video(tmp_path / "squat.mp4", errors=[{}, {"AK44:ET056": 1.5}])
    expected = coach_video(path, "squat").report
    with TestClient(make_app(tmp_path)) as c:
        r = c.post(
            "/api/coach",
            data={"action": "squat"},
            files={"file": ("squat.mp4", path.read_bytes())},
            headers={"X-CSRF-Token": login(c, "ann")},
        )
        assert r.status_code == 202
        job = c.app.state.jobs.wait(r.json()["id"], timeout=120)
        assert job.state == "done", job.message
        assert job.score == pytest.approx(expected["set"]["score_mean"])
        info = c.get(f"/api/jobs/{job.id}").json()
        assert set(info["files"]) == {"report.json", "report.html", "annotated.mp4"}
        report = c.get(info["files"]["report.json"]).json()
        assert [rep["score"] for rep in report["repetitions"]] == [
            rep["score"] for rep in expected["repetitions"]
        ]
        page = c.get(f"/jobs/{job.id}").text
        assert f"{expected['set']['score_mean']:.2f}" in page and "annotated.mp4" in page


@pytest.fixture
def data_client(tmp_path):
    from flexaqa.testing import make_tiny_dataset

    tiny = make_tiny_dataset(tmp_path / "data", subjects=("P01", "N01"), reps=2)
    with TestClient(make_app(tmp_path, data=tiny.root)) as c:
        login(c, "ann")
        yield c, tiny


def test_dataset_list_filters_and_sample_page(data_client):
    c, tiny = data_client
    page = c.get("/data").text
    assert all(sid in page for sid in tiny.sample_ids)
    squat = c.get("/data", params={"action": "squat", "subject": "N01"}).text
    listed = [sid for sid in tiny.sample_ids if f">{sid}<" in squat]
    assert len(listed) == 2  # one subject x one action x two repetitions
    high = min(tiny.scores.values()) + 0.5
    kept = c.get("/data", params={"min_score": high}).text
    assert sum(sid in kept for sid in tiny.sample_ids) == sum(s >= high for s in tiny.scores.values())
    sid = tiny.sample_ids[0]
    sample = c.get(f"/data/{sid}").text
    assert "View-1" in sample and "/media/" in sample and "annotator-labels" in sample
    traces = c.get(f"/api/samples/{sid}/traces").json()
    assert traces["pose"] and traces["emg"] and traces["start"] < traces["end"]
    assert all(traces["start"] - 0.1 <= t <= traces["end"] + 0.1 for t in traces["pose"][0]["t"])


def test_media_serves_dataset_files_and_nothing_outside(data_client, tmp_path):
    c, tiny = data_client
    sample = c.get(f"/data/{tiny.sample_ids[0]}").text
    url = sample.split('src="/media/')[1].split("#")[0]
    r = c.get(f"/media/{url}")
    assert r.status_code == 200 and r.content[4:8] == b"ftyp"
    (tmp_path / "secret.txt").write_text("secret")
    (tiny.root / "link").symlink_to(tmp_path / "secret.txt")
    for trick in (
        "../secret.txt",
        "..%2fsecret.txt",
        "%2e%2e/secret.txt",
        "link",
        "/etc/passwd",
        "..%2f..%2fetc/passwd",
    ):
        r = c.get(f"/media/{trick}")
        assert r.status_code in (400, 404), trick
        assert "secret" not in r.text and "root:" not in r.text


def test_safe_join_refuses_every_escape(tmp_path):
    from flexaqa.web.security import PathOutsideError, safe_join

    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    assert safe_join(root, "a/b.mp4") == (root / "a" / "b.mp4").resolve()
    (root / "out").symlink_to(tmp_path)
    for bad in ("../x", "a/../../x", "/etc/passwd", "out/x", "a/\x00"):
        with pytest.raises(PathOutsideError):
            safe_join(root, bad)


def test_users_cli_adds_and_lists(tmp_path, monkeypatch, capsys):
    from flexaqa.cli import main

    db = f"sqlite:///{tmp_path / 'u.sqlite'}"
    monkeypatch.setenv("FLEXAQA_PASSWORD", "long-enough-1")
    assert main(["users", "add", "carla", "--role", "reviewer", "--db", db]) == 0
    assert main(["users", "list", "--db", db]) == 0
    assert "carla\treviewer" in capsys.readouterr().out
    assert main(["users", "add", "carla", "--role", "reviewer", "--db", db]) != 0
    assert "exists already" in capsys.readouterr().err
    monkeypatch.setenv("FLEXAQA_PASSWORD", "short")
    assert main(["users", "add", "dan", "--role", "annotator", "--db", db]) != 0


@pytest.mark.parametrize("fmt", ["h36m", "coco"])
def test_a_keypoint_file_is_coached_like_the_cli(tmp_path, fmt):
    from flexaqa.coach.keypoints import coach_keypoints
    from flexaqa.testing import keypoint_file, synthetic_set

    s = synthetic_set("squat", n_reps=2, errors=[(), ("AK44:ET056",)])
    path = keypoint_file(tmp_path / "kp", fmt, s)
    fps = None if fmt == "h36m" else s.pose.fps
    fps = fps or 30.0
    expected = coach_keypoints(path, fmt, "squat", fps=fps).report["set"]["score_mean"]
    with TestClient(make_app(tmp_path)) as c:
        h = {"X-CSRF-Token": login(c, "ann")}
        data = {"action": "squat", "kind": fmt, "fps": str(fps)}
        r = c.post("/api/coach", data=data, files={"file": (path.name, path.read_bytes())}, headers=h)
        assert r.status_code == 202, r.text
        job = c.app.state.jobs.wait(r.json()["id"], timeout=60)
        assert job.state == "done", job.message
        assert job.score == pytest.approx(expected)
        wrong = c.post(
            "/api/coach",
            data={**data, "kind": "h36m"},
            files={"file": ("x.npy", b"\x93NUMPY garbage")},
            headers=h,
        )
        assert wrong.status_code == 400 and "x.npy" in wrong.json()["detail"]
        suffix = c.post(
            "/api/coach", data={**data, "kind": "flex"}, files={"file": ("a.exe", b"1")}, headers=h
        )
        assert suffix.status_code == 400 and ".csv" in suffix.json()["detail"]


def test_a_second_server_on_the_same_jobs_folder_is_refused(tmp_path):
    from flexaqa.errors import BusyError

    app = make_app(tmp_path)
    with pytest.raises(BusyError, match="pid"):
        make_app(tmp_path)
    app.state.jobs.close()
    make_app(tmp_path).state.jobs.close()  # free again once the first one stopped
