"""The Label Studio round trip against a real Label Studio 1.23 server on 127.0.0.1.

Label Studio lives in its own venv (``tools/setup_labelstudio.sh``; path in ``FLEXAQA_LABEL_STUDIO``, default
``.venv-labelstudio``). Without it these tests skip locally and fail in CI (``CI=true``). The server validates
every generated config, serves the tasks' local-file videos, takes annotations from two users who signed up
with the organisation's invite link, and exports JSON that :func:`parse_export` must read back exactly.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from flexaqa.annotation.labelstudio import (
    build_tasks,
    labelling_config,
    parse_export,
    read_export,
    repetition_bounds,
    users_from_api,
)
from flexaqa.annotation.records import LabelSubmission
from flexaqa.kg import load_kg
from flexaqa.testing import make_tiny_dataset

pytestmark = pytest.mark.labelstudio

REPO = Path(__file__).resolve().parents[1]
ADMIN = "admin@flexaqa.test"
TOKEN = "flexaqa0test0token0for0label0studio0000"
START_TIMEOUT_S = 180  # a fresh database (no template) migrates for ~35 s on a busy 2-core machine


def _ls_venv() -> Path:
    return Path(os.environ.get("FLEXAQA_LABEL_STUDIO", REPO / ".venv-labelstudio"))


class LabelStudio:
    """A tiny REST client: token auth, JSON in and out, errors with the server's message."""

    def __init__(self, url: str, token: str, startup_s: float):
        self.url, self.token, self.startup_s = url, token, startup_s

    def call(self, method: str, path: str, body=None, *, token: str | None = None, raw: bool = False):
        req = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {token or self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                data = resp.read()
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:1000]!r}") from None
        return data if raw else (json.loads(data) if data else None)

    def status_of(self, method: str, path: str, body=None) -> tuple[int, str]:
        try:
            self.call(method, path, body)
            return 200, ""
        except AssertionError as exc:
            return int(str(exc).split("HTTP ", 1)[1].split(":", 1)[0]), str(exc)

    def sign_up(self, email: str, password: str) -> str:
        """Sign ``email`` up through the invite link as a person would, and return their API token."""
        invite = self.call("GET", "/api/invite")["token"]
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = f"{self.url}/user/signup/?token={invite}"
        browser.open(page, timeout=60).read()
        csrf = next(c.value for c in jar if c.name == "csrftoken")
        form = {
            "csrfmiddlewaretoken": csrf,
            "email": email,
            "password": password,
            "allow_newsletters": "false",
        }
        req = urllib.request.Request(
            page, data=urllib.parse.urlencode(form).encode(), headers={"Referer": page}
        )
        browser.open(req, timeout=60).read()
        token = json.loads(browser.open(f"{self.url}/api/current-user/token", timeout=60).read())["token"]
        assert self.call("GET", "/api/current-user/whoami", token=token)["email"] == email
        return token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    exe = _ls_venv() / "bin" / "label-studio"
    if not exe.is_file():
        msg = f"Label Studio is not installed at {exe.parent.parent}: run tools/setup_labelstudio.sh"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI must run the round trip)", pytrace=False)
        pytest.skip(msg)
    root = tmp_path_factory.mktemp("labelstudio")
    data = root / "ls-data"
    data.mkdir()
    template = _ls_venv() / "flexaqa-template" / "label_studio.sqlite3"
    if template.is_file():
        shutil.copy(template, data / "label_studio.sqlite3")
    port = _free_port()
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "LABEL_STUDIO_USERNAME": ADMIN,
        "LABEL_STUDIO_PASSWORD": "flexaqa-admin-password",
        "LABEL_STUDIO_USER_TOKEN": TOKEN,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(root),
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "LATEST_VERSION_CHECK": "false",  # no call to pypi.org at start
        "COLLECT_ANALYTICS": "false",
    }
    log = open(root / "label-studio.log", "wb")  # noqa: SIM115 - closed in teardown
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [str(exe), "start", "--internal-host", "127.0.0.1", "--port", str(port), "--no-browser"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: teardown stops everything it started
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                raise AssertionError(
                    f"Label Studio exited with {proc.returncode}; see {root / 'label-studio.log'}"
                )
            if time.monotonic() - t0 > START_TIMEOUT_S:
                raise AssertionError(f"Label Studio not healthy after {START_TIMEOUT_S} s; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if json.loads(resp.read()).get("status") == "UP":
                        break
            except (OSError, ValueError):
                pass
            time.sleep(0.25)
        startup = time.monotonic() - t0
        print(f"Label Studio healthy after {startup:.1f} s (template database: {template.is_file()})")
        yield LabelStudio(url, TOKEN, startup), root
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        log.close()


# One test, so that pytest-xdist never starts a second server on another worker.
def test_configs_validate_and_labels_round_trip(label_studio):
    ls, root = label_studio
    for action in load_kg():
        status, msg = ls.status_of(
            "POST", "/api/projects/validate", {"label_config": labelling_config(action)}
        )
        assert status < 300, f"{action.slug}: {msg}"
    # the check is real: a config with two controls of the same name is refused
    broken = labelling_config("squat").replace('name="AK45"', 'name="AK44"')
    assert ls.status_of("POST", "/api/projects/validate", {"label_config": broken})[0] == 400

    tiny = make_tiny_dataset(root / "ds", subjects=("P01",), actions=("squat",), reps=2)
    project = ls.call(
        "POST", "/api/projects", {"title": "flexaqa squat", "label_config": labelling_config("squat")}
    )
    pid = project["id"]
    ls.call("POST", "/api/storages/localfiles", {"project": pid, "path": str(tiny.root), "title": "dataset"})
    tasks = build_tasks(tiny.root, document_root=root)
    assert ls.call("POST", f"/api/projects/{pid}/import", tasks)["task_count"] == 2
    stored = sorted(
        ls.call("GET", f"/api/tasks?project={pid}")["tasks"], key=lambda t: t["data"]["sample_id"]
    )
    assert [t["data"]["sample_id"] for t in stored] == tiny.sample_ids
    # Label Studio serves the task's video from the dataset, byte for byte
    video = ls.call("GET", stored[0]["data"]["video"], raw=True)
    trial = stored[0]["data"]["trial"]
    assert video == (tiny.root / "trials" / trial / "video" / "View-1.mp4").read_bytes()

    ann = ls.sign_up("ann1@flexaqa.test", "ann1-password-x")
    rev = ls.sign_up("rev1@flexaqa.test", "rev1-password-x")

    def post(task, token, result, cancelled=False):
        q = "?was_cancelled=1" if cancelled else ""
        return ls.call("POST", f"/api/tasks/{task['id']}/annotations{q}", {"result": result}, token=token)[
            "id"
        ]

    def span(label, start, end):
        value = {"ranges": [{"start": start, "end": end}], "timelinelabels": [label]}
        return {"from_name": "timeline", "to_name": "video", "type": "timelinelabels", "value": value}

    def choices(keystep, *slots):
        return {
            "from_name": keystep,
            "to_name": "video",
            "type": "choices",
            "value": {"choices": list(slots)},
        }

    t1, t2 = stored
    a1 = post(
        t1,
        ann,
        [
            choices("AK44", "AK44:ET056", "AK44:ET005"),
            choices("AK45", "AK45:ET002"),
            {"from_name": "score", "to_name": "video", "type": "number", "value": {"number": 71.5}},
            {
                "from_name": "feedback",
                "to_name": "video",
                "type": "textarea",
                "value": {"text": ["knees cave in"]},
            },
            span("repetition", 13, 72),
            span("eccentric", 13, 40),
            span("concentric", 41, 72),
        ],
    )
    a2 = post(t1, rev, [choices("AK44", "AK44:ET056")])
    a3 = post(t2, ann, [])  # no errors seen
    a4 = post(
        t2,
        rev,
        [{"from_name": "review", "to_name": "video", "type": "choices", "value": {"choices": ["accept"]}}],
    )
    post(t2, rev, [], cancelled=True)

    export = root / "export.json"
    export.write_bytes(ls.call("GET", f"/api/projects/{pid}/export?exportType=JSON", raw=True))
    users = users_from_api(ls.call("GET", "/api/users"))
    role_of = {"ann1@flexaqa.test": "annotator", "rev1@flexaqa.test": "reviewer"}
    got = parse_export(export, role_of=role_of, users=users)

    s1, s2 = tiny.sample_ids
    where = f"export.json: task {t1['id']}, annotation"
    where2 = f"export.json: task {t2['id']}, annotation"
    assert sorted(got, key=lambda s: s.source) == sorted(
        [
            LabelSubmission(
                "ann1@flexaqa.test",
                1,
                s1,
                ("AK44:ET005", "AK44:ET056", "AK45:ET002"),
                71.5,
                "knees cave in",
                1,
                f"{where} {a1}",
            ),
            LabelSubmission("rev1@flexaqa.test", 2, s1, ("AK44:ET056",), None, "", 1, f"{where} {a2}"),
            LabelSubmission("ann1@flexaqa.test", 1, s2, (), None, "", 2, f"{where2} {a3}"),
            LabelSubmission("rev1@flexaqa.test", 2, s2, (), None, "", 2, f"{where2} {a4}", accept=True),
        ],
        key=lambda s: s.source,
    )
    full = read_export(export, role_of=role_of, users=users)
    assert len(full.cancelled) == 1 and full.cancelled[0].startswith(where2)
    fps = t1["data"]["fps"]
    assert [(g.sample_id, g.label, g.start, g.end) for g in full.segments] == [
        (s1, "repetition", 12 / fps, 72 / fps),
        (s1, "eccentric", 12 / fps, 40 / fps),
        (s1, "concentric", 40 / fps, 72 / fps),
    ]
    bounds = repetition_bounds(full.segments)
    assert bounds == {("ann1@flexaqa.test", t1["data"]["trial"]): [(1, 12 / fps, 40 / fps, 72 / fps)]}
    print(f"Label Studio start-up {ls.startup_s:.1f} s")
