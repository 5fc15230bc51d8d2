"""The annotation store behind the web app: the database of ``--db``, opened once on first use."""

from __future__ import annotations

from fastapi import Request

from flexaqa.annotation import AnnotationError, AnnotationStore


def store(request: Request):
    """The annotation store of ``--db``, opened on first use (a clear error until `annotate init` ran)."""
    if getattr(request.app.state, "labels", None) is None:
        url = request.app.state.settings.db
        try:
            request.app.state.labels = AnnotationStore.open(url)
        except AnnotationError as exc:
            raise AnnotationError(
                f"no annotation project in this database yet ({exc}); run `flexaqa annotate init --data DIR "
                f"--db {url}` and `flexaqa annotate assign`"
            ) from exc
    return request.app.state.labels
