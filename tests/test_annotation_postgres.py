"""The same store against a real PostgreSQL server that the test suite starts itself (conftest.py)."""

from __future__ import annotations

import pytest
from test_annotation_store import LABELLERS, REVIEWERS, label_all, new_store, run_concurrent_writers

from flexaqa.annotation import AnnotationError, LabelSubmission
from flexaqa.annotation.store import AnnotationStore
from flexaqa.testing import make_tiny_dataset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("pg") / "d", subjects=("P01", "A01", "N01", "N02"))


def test_workflow_on_postgres(postgres_url, tiny):
    store = new_store(postgres_url, tiny.root)
    assert store.schema_revision() == "0001" and len(store.tasks()) == 24
    label_all(store)
    with pytest.raises(AnnotationError, match="already labelled"):
        label_all(store)
    for rv in REVIEWERS:
        store.submit([LabelSubmission(rv, 2, s, (), accept=True) for s in store.pending_reviews(rv)])
    decisions, written = store.resolve()
    assert written == 24 and {d.status for d in decisions} == {"resolved"}
    again = AnnotationStore.open(postgres_url)  # a second client sees the same project
    assert len(again.resolutions()) == 24 and again.config().labellers == 3
    assert set(again.status().annotators) == set(LABELLERS) | set(REVIEWERS)


def test_concurrent_writers_on_postgres(postgres_url, tiny):
    run_concurrent_writers(postgres_url, tiny.root)
