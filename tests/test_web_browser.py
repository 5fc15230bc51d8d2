"""The web app in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven by Selenium
against `flexaqa serve` running in its own process. Set FLEXAQA_SCREENSHOTS=DIR to keep a screenshot of every
page (tools/web_screenshots.sh writes docs/img/ this way)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from web_helpers import PASSWORDS, ROLES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    if os.environ.get("CI"):
        pytest.fail("CI must run the browser tests: apt-get install chromium chromium-driver", pytrace=False)
    pytest.skip(
        "headless Chromium is not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )
pytest.importorskip("selenium")
pytest.importorskip("mediapipe")

pytestmark = pytest.mark.slow
UPLOAD_MB = 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*argv, env=None):
    return subprocess.run([sys.executable, "-m", "flexaqa", *argv], capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from flexaqa.testing import make_tiny_dataset, rendered_set_video

    tmp = tmp_path_factory.mktemp("web")
    tiny = make_tiny_dataset(tmp / "data", subjects=("P01", "N01"), reps=2)
    video, _ = rendered_set_video(tmp / "squat.mp4", errors=[{}, {"AK44:ET056": 1.5}])
    db = f"sqlite:///{tmp / 'web.sqlite'}"
    for name, role in ROLES.items():
        r = _cli(
            "users",
            "add",
            name,
            "--role",
            role,
            "--db",
            db,
            env={**os.environ, "FLEXAQA_PASSWORD": PASSWORDS[name]},
        )
        assert r.returncode == 0, r.stderr
    for argv in (
        (
            "annotate",
            "init",
            "--data",
            str(tiny.root),
            "--db",
            db,
            "--labels-per-sample",
            "3",
            "--reviews-per-sample",
            "1",
        ),
        (
            "annotate",
            "assign",
            "--data",
            str(tiny.root),
            "--db",
            db,
            "--labellers",
            "ann,bob,admin",
            "--reviewers",
            "rev",
        ),
    ):
        r = _cli(*argv)
        assert r.returncode == 0, r.stderr
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flexaqa",
            "serve",
            "--data",
            str(tiny.root),
            "--db",
            db,
            "--port",
            str(port),
            "--jobs",
            str(tmp / "jobs"),
            "--max-upload-mb",
            str(UPLOAD_MB),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    t_end = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/kg", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > t_end:
                proc.kill()
                pytest.fail(f"flexaqa serve did not start: {proc.stdout.read()}")
            time.sleep(0.3)
    yield {"url": url, "tmp": tmp, "data": tiny, "video": video, "db": db}
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--disable-gpu",
        "--autoplay-policy=no-user-gesture-required",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def shot(driver, name: str) -> None:
    folder = os.environ.get("FLEXAQA_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"web-{name}.png"))


def log_in(driver, url: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(url + "/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORDS[name])
    driver.find_element(By.ID, "login-submit").click()
    assert wait_for(driver, "#whoami", 30).text.startswith(name)


def wait_for(driver, css: str, timeout: float = 120):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def test_coach_a_video_in_the_browser_gives_the_cli_score(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    cli = _cli(
        "coach", str(server["video"]), "--action", "squat", "--out", str(server["tmp"] / "cli"), "--json"
    )
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)["set"]["score_mean"]
    log_in(browser, server["url"], "ann")
    browser.get(server["url"] + "/coach")
    shot(browser, "coach-upload")
    Select(browser.find_element(By.ID, "action")).select_by_value("squat")
    browser.find_element(By.ID, "file").send_keys(str(server["video"]))
    browser.find_element(By.ID, "coach-submit").click()
    wait_for(browser, "#job-state", 60)
    assert "/jobs/" in browser.current_url
    if browser.find_elements(By.ID, "job-progress"):
        shot(browser, "coach-progress")
    score = wait_for(browser, "#set-score").text
    assert float(score) == pytest.approx(expected, abs=0.005)
    rows = browser.find_elements(By.CSS_SELECTOR, "#reps tr")
    assert len(rows) == 1 + len(json.loads(cli.stdout)["repetitions"])
    video = browser.find_element(By.ID, "annotated")
    t_end = time.monotonic() + 20
    while browser.execute_script("return arguments[0].readyState", video) < 1 and time.monotonic() < t_end:
        time.sleep(0.2)
    assert browser.execute_script("return arguments[0].duration", video) > 0  # the browser decodes it
    shot(browser, "coach-report")
    job_url = browser.current_url

    log_in(browser, server["url"], "bob")  # a second user cannot open the first one's job
    browser.get(job_url)
    assert "no job" in browser.find_element(By.ID, "error-message").text
    browser.get(server["url"] + "/coach")
    assert not browser.find_elements(By.CSS_SELECTOR, "#jobs a")


def test_oversized_upload_and_path_tricks_are_refused(server, browser):
    from selenium.webdriver.common.by import By

    big = server["tmp"] / "big.mp4"
    big.write_bytes(server["video"].read_bytes() * (UPLOAD_MB * 2**20 // server["video"].stat().st_size + 2))
    log_in(browser, server["url"], "ann")
    browser.get(server["url"] + "/coach")
    browser.find_element(By.ID, "file").send_keys(str(big))
    browser.find_element(By.ID, "coach-submit").click()
    wait_for(browser, "body:not(:has(#coach-form))", 60)
    assert "larger than the limit" in browser.find_element(By.TAG_NAME, "body").text
    for trick in (
        "/media/..%2f..%2fweb.sqlite",
        "/media/%2e%2e/web.sqlite",
        "/jobs/x/files/..%2f..%2fweb.sqlite",
    ):
        browser.get(server["url"] + trick)
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "SQLite" not in body and (
            "not found" in body.lower() or "no job" in body or "Not Found" in body
        )


def test_kg_and_dataset_pages(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server["url"] + "/kg")
    shot(browser, "kg")
    browser.find_element(By.ID, "q").send_keys("knees caving")
    browser.find_element(By.CSS_SELECTOR, "#kg-search button").click()
    assert "ET056" in wait_for(browser, "#hits", 30).text
    browser.get(server["url"] + "/kg/squat")
    assert "Push your knees out" in browser.page_source
    shot(browser, "kg-squat")
    log_in(browser, server["url"], "ann")
    browser.get(server["url"] + "/data")
    rows = browser.find_elements(By.CSS_SELECTOR, "#samples tr")
    assert len(rows) == 1 + len(server["data"].sample_ids)
    shot(browser, "dataset")
    rows[1].find_element(By.TAG_NAME, "a").click()
    wait_for(browser, "video.sync")
    t_end = time.monotonic() + 20
    drawn = 0
    while time.monotonic() < t_end and not drawn:  # the traces are drawn from /api/samples/<id>/traces
        drawn = browser.execute_script(
            "const c = document.getElementById('emg-trace');"
            "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;"
        )
        time.sleep(0.3)
    assert drawn > 500
    shot(browser, "sample")


def test_label_review_and_resolve_in_the_browser(server, browser):
    from selenium.webdriver.common.by import By

    from flexaqa.annotation import AnnotationStore
    from flexaqa.kg import score

    labels = AnnotationStore.open(server["db"])
    assigned = labels.assignments()
    sample = sorted(s for (s, st), people in assigned.items() if st == 1 and "ann" in people)[0]
    log_in(browser, server["url"], "ann")
    browser.get(server["url"] + "/annotate")
    shot(browser, "annotate-tasks")
    browser.find_element(By.CSS_SELECTOR, f'a[href="/annotate/label/{sample}"]').click()
    before = wait_for(browser, "#live-score", 30).text
    browser.find_element(By.CSS_SELECTOR, 'input.slot[value="AK44:ET056"]').click()
    live = browser.find_element(By.ID, "live-score").text
    assert before == "100.00" and float(live) == pytest.approx(
        score("squat", ["AK44:ET056"]).score, abs=0.005
    )
    browser.find_element(By.ID, "feedback").send_keys("knees cave on the way down")
    shot(browser, "annotate-label")
    browser.find_element(By.ID, "save-label").click()
    assert sample in wait_for(browser, "#saved", 30).text
    row = labels.current_labels(stage=1)[(sample, "ann", 1)]
    assert row.slots == ("AK44:ET056",) and row.feedback == "knees cave on the way down"

    log_in(browser, server["url"], "rev")  # another user: none of ann's stage-1 tasks, and no way in
    browser.get(server["url"] + "/annotate")
    assert not browser.find_elements(By.CSS_SELECTOR, 'a[href^="/annotate/label/"]')
    browser.get(server["url"] + f"/annotate/label/{sample}")
    assert "not among your tasks" in browser.find_element(By.ID, "error-message").text

    for name in ("bob", "admin"):  # the other two labellers of the sample, in their own sessions
        log_in(browser, server["url"], name)
        browser.get(server["url"] + f"/annotate/label/{sample}")
        browser.find_element(By.CSS_SELECTOR, 'input.slot[value="AK44:ET056"]').click()
        browser.find_element(By.ID, "save-label").click()
        wait_for(browser, "#saved", 30)
    log_in(browser, server["url"], "rev")
    browser.get(server["url"] + f"/annotate/review/{sample}")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#stage1-labels tr")) == 4
    shot(browser, "annotate-review")
    browser.find_element(By.ID, "verdict-accept").click()
    browser.find_element(By.ID, "save-review").click()
    assert sample in wait_for(browser, "#reviewed", 30).text

    log_in(browser, server["url"], "admin")
    browser.get(server["url"] + "/annotate")
    wait_for(browser, "#resolve", 30).click()
    assert "resolved" in wait_for(browser, "#resolve-summary", 30).text
    shot(browser, "annotate-resolved")
    assert tuple(labels.resolutions()[sample]["slots"]) == ("AK44:ET056",)
