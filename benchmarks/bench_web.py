"""Load test of the web app on loopback: N concurrent coach uploads and M annotators saving labels at once.

Starts `flexaqa serve` in its own process on 127.0.0.1 (bounded queue, 1 worker on this 2-core machine), then
1. N clients log in and upload the same rendered squat video at the same moment: each is accepted (202) or
   refused with 429 and a message; every accepted job must finish with the CLI's score; refused clients retry
   after the queue drains, so every upload ends done;
2. M annotators save their stage-1 labels concurrently through the JSON API; every label must be in the store.
The server's resident memory is sampled throughout (peak and end). The reference is the CLI coach on the same
video in the same run (seconds per job). Writes benchmarks/results/web.md and web.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

OUT = Path(__file__).resolve().parent / "results"
PASSWORD = "bench-pass-1"


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cli(*argv, env=None):
    return subprocess.run([sys.executable, "-m", "flexaqa", *argv], capture_output=True, text=True, env=env)


class Server:
    def __init__(self, tmp: Path, data: Path, db: str, queue: int, workers: int):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flexaqa",
                "serve",
                "--data",
                str(data),
                "--db",
                db,
                "--port",
                str(self.port),
                "--jobs",
                str(tmp / "jobs"),
                "--queue",
                str(queue),
                "--workers",
                str(workers),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        t_end = time.monotonic() + 60
        while time.monotonic() < t_end:
            try:
                httpx.get(self.url + "/kg", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        self.peak = self.start_rss = _rss_mib(self.proc.pid)
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self):
        while not self._stop.wait(0.2):
            try:
                self.peak = max(self.peak, _rss_mib(self.proc.pid))
            except (FileNotFoundError, ProcessLookupError):
                return

    def close(self) -> float:
        end = _rss_mib(self.proc.pid)
        self._stop.set()
        self.proc.terminate()
        self.proc.wait(20)
        return end


def _client(url: str, name: str) -> tuple[httpx.Client, str]:
    c = httpx.Client(base_url=url, timeout=120)
    r = c.post("/api/login", json={"name": name, "password": PASSWORD})
    r.raise_for_status()
    return c, r.json()["csrf_token"]


def coach_load(server: Server, users: list[str], video: Path, expected: float) -> dict:
    clients = [_client(server.url, u) for u in users]
    barrier = threading.Barrier(len(clients))

    def upload(i: int):
        c, token = clients[i]
        barrier.wait()
        t0 = time.perf_counter()
        r = c.post(
            "/api/coach",
            data={"action": "squat"},
            files={"file": ("squat.mp4", video.read_bytes())},
            headers={"X-CSRF-Token": token},
        )
        return i, r.status_code, r.json(), time.perf_counter() - t0

    with ThreadPoolExecutor(len(clients)) as pool:
        first = list(pool.map(upload, range(len(clients))))
    accepted = [(i, body["id"]) for i, code, body, _ in first if code == 202]
    refused = [(i, body["detail"]) for i, code, body, _ in first if code == 429]
    other = [(i, code, body) for i, code, body, _ in first if code not in (202, 429)]
    t0 = time.perf_counter()
    results, latencies = [], []

    def wait(i: int, job_id: str):
        c, _ = clients[i]
        start = time.perf_counter()
        while True:
            job = c.get(f"/api/jobs/{job_id}").json()
            if job["state"] not in ("queued", "running"):
                return job, time.perf_counter() - start
            time.sleep(0.25)

    for i, job_id in accepted:
        job, dt = wait(i, job_id)
        results.append(job)
        latencies.append(dt)
    retried = []
    for i, _ in refused:  # the queue has drained: every refused client gets its job done now
        c, token = clients[i]
        r = c.post(
            "/api/coach",
            data={"action": "squat"},
            files={"file": ("squat.mp4", video.read_bytes())},
            headers={"X-CSRF-Token": token},
        )
        if r.status_code == 202:
            job, _ = wait(i, r.json()["id"])
            retried.append(job)
    drain_s = time.perf_counter() - t0
    done = [j for j in results + retried if j["state"] == "done"]
    return {
        "clients": len(clients),
        "accepted_at_once": len(accepted),
        "refused_429": len(refused),
        "refusal_message": refused[0][1] if refused else None,
        "other_answers": other,
        "done": len(done),
        "failed": [j["message"] for j in results + retried if j["state"] != "done"],
        "scores_equal_cli": all(abs(j["score"] - expected) < 1e-9 for j in done),
        "seconds_to_drain": round(drain_s, 2),
        "job_seconds_mean": round(drain_s / max(len(done), 1), 2),
        "upload_answer_s_max": round(max(t for *_, t in first), 3),
    }


def main(argv=None) -> int:
    from flexaqa.testing import make_tiny_dataset, rendered_set_video

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--uploads", type=int, default=8, help="concurrent coach uploads (N)")
    ap.add_argument("--annotators", type=int, default=12, help="concurrent annotators (M)")
    ap.add_argument("--queue", type=int, default=4, help="the server's queue size")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    tiny = make_tiny_dataset(tmp / "data", reps=2)
    video, _ = rendered_set_video(tmp / "squat.mp4", errors=[{}, {"AK44:ET056": 1.5}])
    db = f"sqlite:///{tmp / 'web.sqlite'}"
    env = {**os.environ, "FLEXAQA_PASSWORD": PASSWORD}
    users = [f"user{i:02d}" for i in range(max(args.uploads, args.annotators))]
    for u in users:
        assert _cli("users", "add", u, "--role", "annotator", "--db", db, env=env).returncode == 0
    annotators = users[: args.annotators]
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
            ",".join(annotators[1:]),
            "--reviewers",
            annotators[0],
        ),
    ):
        r = _cli(*argv)
        assert r.returncode == 0, r.stderr
    t0 = time.perf_counter()
    cli = _cli("coach", str(video), "--action", "squat", "--out", str(tmp / "cli"), "--json")
    cli_s = time.perf_counter() - t0
    expected = json.loads(cli.stdout)["set"]["score_mean"]

    server = Server(tmp, tiny.root, db, args.queue, 1)
    try:
        coach = coach_load(server, users[: args.uploads], video, expected)
        labels = annotator_load(server, users[: args.annotators], tmp, tiny, db)
    finally:
        end_rss = server.close()
    result = {
        "machine": f"{os.cpu_count()} cores",
        "reference_cli_coach_s": round(cli_s, 2),
        "coach": coach,
        "web_job_over_cli": round(coach["job_seconds_mean"] / cli_s, 2),
        "labels": labels,
        "server_rss_mib": {
            "start": round(server.start_rss, 1),
            "peak": round(server.peak, 1),
            "end": round(end_rss, 1),
        },
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "web.json").write_text(json.dumps(result, indent=2) + "\n")
    (OUT / "web.md").write_text(_markdown(result))
    print(_markdown(result))
    ok = coach["done"] == args.uploads and coach["scores_equal_cli"] and not coach["other_answers"]
    ok = ok and labels.get("lost", 1) == 0
    return 0 if ok else 1


def annotator_load(server: Server, users: list[str], tmp: Path, tiny, db: str) -> dict:
    """Every annotator saves a label of each of their tasks at the same moment, through the JSON API; then the
    store must hold exactly one current label per (sample, annotator)."""
    from flexaqa.annotation import AnnotationStore

    labels = AnnotationStore.open(db)
    assigned = labels.assignments()
    clients = {u: _client(server.url, u) for u in users}
    jobs = [(u, s) for (s, st), people in sorted(assigned.items()) if st == 1 for u in people if u in clients]
    barrier = threading.Barrier(len(clients))
    by_user: dict[str, list[str]] = {}
    for u, s in jobs:
        by_user.setdefault(u, []).append(s)

    def work(u: str):
        c, token = clients[u]
        barrier.wait()
        codes, times = [], []
        for s in by_user.get(u, []):
            t0 = time.perf_counter()
            r = c.post(
                "/api/labels",
                json={"sample_id": s, "slots": ["AK44:ET056"] if "A16" in s else []},
                headers={"X-CSRF-Token": token},
            )
            times.append(time.perf_counter() - t0)
            codes.append(r.status_code)
        return codes, times

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        out = list(pool.map(work, list(clients)))
    wall = time.perf_counter() - t0
    codes = [c for cs, _ in out for c in cs]
    times = sorted(t for _, ts in out for t in ts)
    stored = {(s, a) for (s, a, st) in labels.current_labels(stage=1)}
    lost = len({(s, u) for u, s in jobs} - stored)
    return {
        "annotators": len(clients),
        "labels_sent": len(jobs),
        "answered_201": codes.count(201),
        "other_answers": len(codes) - codes.count(201),
        "labels_in_store": len(stored),
        "lost": lost,
        "labels_per_s": round(len(jobs) / wall, 1),
        "p50_ms": round(1000 * times[len(times) // 2], 1),
        "p95_ms": round(1000 * times[int(len(times) * 0.95)], 1),
    }


def _markdown(r: dict) -> str:
    c = r["coach"]
    lines = [
        "# Web app load test (loopback, `benchmarks/bench_web.py`)",
        "",
        f"Machine: {r['machine']}; server: `flexaqa serve`, queue {c['accepted_at_once']} of {c['clients']} "
        "uploads at once, 1 coach worker. Video: a rendered squat set (480x360, 15 fps, 2 repetitions).",
        "",
        "| coach uploads | value |",
        "|---|---|",
        f"| concurrent uploads | {c['clients']} |",
        f"| accepted at once (202) | {c['accepted_at_once']} |",
        f'| refused with 429 | {c["refused_429"]} ("{c["refusal_message"]}") |',
        f"| other answers | {len(c['other_answers'])} |",
        f"| jobs done (after refused clients retried) | {c['done']} |",
        f"| scores equal to the CLI's | {c['scores_equal_cli']} |",
        f"| slowest upload answer | {c['upload_answer_s_max']} s |",
        f"| mean seconds per job while loaded | {c['job_seconds_mean']} |",
        f"| CLI coach on the same video (reference) | {r['reference_cli_coach_s']} s |",
        f"| web job / CLI run | {r['web_job_over_cli']}x |",
        "",
    ]
    lab = r["labels"]
    if lab:
        lines += [
            "| annotators saving labels | value |",
            "|---|---|",
            *(f"| {k.replace('_', ' ')} | {v} |" for k, v in lab.items()),
            "",
        ]
    m = r["server_rss_mib"]
    lines += [
        f"Server memory (RSS): {m['start']} MiB at start, {m['peak']} MiB peak, {m['end']} MiB at the end.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
