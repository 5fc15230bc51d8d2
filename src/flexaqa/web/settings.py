"""The web app's settings: one typed dataclass, checked when the app is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flexaqa.errors import FlexaqaError


class WebError(FlexaqaError):
    """Bad settings or a bad request to the web app."""


@dataclass(frozen=True)
class WebSettings:
    """Everything :func:`flexaqa.web.create_app` needs.

    ``data``: the dataset folder the app shows (``None``: the dataset pages say so); ``db``: SQLAlchemy URL of
    the store (users, annotation labels); ``jobs``: where coach jobs keep their uploads and reports.
    """

    db: str
    jobs: Path
    data: Path | None = None
    secret_key: str = ""
    session_seconds: int = 8 * 3600
    max_upload_bytes: int = 200 * 1024 * 1024
    queue_size: int = 4  # coach jobs waiting or running at once; one more is answered 429
    workers: int = 1  # coach jobs running at once
    secure_cookies: bool = False  # True behind HTTPS
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "jobs", Path(self.jobs))
        if self.data is not None:
            object.__setattr__(self, "data", Path(self.data))
            if not self.data.is_dir():
                raise WebError(f"{self.data}: no such dataset folder (--data)")
        for name in ("session_seconds", "max_upload_bytes", "queue_size", "workers"):
            if int(getattr(self, name)) < 1:
                raise WebError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.workers > self.queue_size:
            raise WebError(f"workers ({self.workers}) cannot exceed queue_size ({self.queue_size})")
