"""A bounded queue of coach jobs: at most ``size`` waiting or running, ``workers`` running at once.

Each job lives in its own folder (``input.*``, ``job.json``, the coach's outputs), so finished jobs survive a
restart; a job that was running when the server stopped is marked ``interrupted`` on the next start, never left
looking complete. ``job.json`` is written atomically at every state change.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flexaqa._io import output_dir, write_json
from flexaqa.errors import FlexaqaError
from flexaqa.web.settings import WebError

STATES = ("queued", "running", "done", "failed", "interrupted")


class QueueFullError(WebError):
    """Every slot of the coach queue is taken; the client should retry later (HTTP 429)."""


@dataclass
class Job:
    id: str
    owner: str
    action: str
    input_name: str  # the uploaded file's name as given (shown, never used as a path)
    kind: str = "video"  # "video" or "pose"
    pose_format: str | None = None
    fps: float | None = None  # keypoint files that carry no time
    state: str = "queued"
    progress: float = 0.0  # 0..1
    message: str = ""
    created: float = field(default_factory=time.time)
    finished: float | None = None
    score: float | None = None
    exit_code: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# runner(job, folder, input path, progress(fraction, message)) writes the outputs and returns the set score
Runner = Callable[[Job, Path, Path, Callable[[float, str], None]], float | None]


class JobQueue:
    def __init__(self, root: str | Path, runner: Runner, *, size: int = 4, workers: int = 1):
        self.root = Path(root)
        self._hold = contextlib.ExitStack()  # one server per jobs folder: a second one is refused (busy)
        self._hold.enter_context(output_dir(self.root, mode="update"))
        self.size = size
        self._runner = runner
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._active = 0
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="coach-job")
        self._load()

    # ------------------------------------------------------------------------------------------------ state
    def _load(self) -> None:
        for meta in sorted(self.root.glob("*/job.json")):
            job = Job(**json.loads(meta.read_text(encoding="utf-8")))
            if job.state in ("queued", "running"):
                job.state, job.message = "interrupted", "the server stopped before this job finished"
                self._save(job)
            self._jobs[job.id] = job

    def folder(self, job: Job | str) -> Path:
        return self.root / (job if isinstance(job, str) else job.id)

    def _save(self, job: Job) -> None:
        write_json(self.folder(job) / "job.json", job.to_dict(), indent=2)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self, owner: str | None = None) -> list[Job]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if owner is None or j.owner == owner]
        return sorted(jobs, key=lambda j: j.created, reverse=True)

    @property
    def active(self) -> int:
        with self._lock:
            return self._active

    # ------------------------------------------------------------------------------------------------- work
    def reserve(self) -> str:
        """Take a slot (raises :class:`QueueFullError` when none is free) and return a new job id."""
        with self._lock:
            if self._active >= self.size:
                raise QueueFullError(
                    f"the coach queue is full ({self.size} jobs waiting or running); try again in a minute"
                )
            self._active += 1
        return secrets.token_hex(8)

    def release(self) -> None:
        """Give back a slot taken by :meth:`reserve` for a job that was never submitted."""
        with self._lock:
            self._active -= 1

    def submit(self, job: Job, input_path: Path) -> Job:
        """Queue ``job`` (its id from :meth:`reserve`, its input already under :meth:`folder`)."""
        with self._lock:
            self._jobs[job.id] = job
        self._save(job)
        self._pool.submit(self._run, job, input_path)
        return job

    def _progress(self, job: Job) -> Callable[[float, str], None]:
        def update(fraction: float, message: str = "") -> None:
            job.progress = max(job.progress, min(1.0, float(fraction)))
            job.message = message or job.message

        return update

    def _run(self, job: Job, input_path: Path) -> None:
        try:
            job.state = "running"
            self._save(job)
            job.score = self._runner(job, self.folder(job), input_path, self._progress(job))
            job.state, job.progress, job.message, job.exit_code = "done", 1.0, "finished", 0
        except FlexaqaError as exc:
            job.state, job.message = "failed", str(exc)
            job.exit_code = int(getattr(exc, "code", getattr(exc, "exit_code", 1)) or 1)
        except Exception as exc:  # a bug: keep the server up, show the error on the job's page
            job.state, job.message, job.exit_code = (
                "failed",
                f"internal error: {type(exc).__name__}: {exc}",
                1,
            )
        finally:
            job.finished = time.time()
            self._save(job)
            with self._lock:
                self._active -= 1

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """Block until the job ends (for scripts and tests)."""
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            job = self.get(job_id)
            if job is not None and job.state not in ("queued", "running"):
                return job
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id} did not finish within {timeout} s")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._hold.close()
