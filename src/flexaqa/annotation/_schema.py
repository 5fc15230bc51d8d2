"""The store's tables (SQLAlchemy Core). The schema itself is created and upgraded by the Alembic migrations in
``migrations/versions``; this module is what the code queries and what ``test_annotation_store`` compares the
migrated schema against.

Nothing is ever updated or deleted: a label edit appends a row with ``revision + 1`` that names the row it
``replaces``; the current label of (sample, annotator, stage) is its highest revision.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

project = sa.Table(
    "project",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # JSON
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("sample_id", sa.String(64), primary_key=True),
    sa.Column("trial", sa.String(64), nullable=False, index=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("rep", sa.Integer, nullable=False),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sample_id", sa.String(64), sa.ForeignKey("tasks.sample_id"), nullable=False),
    sa.Column("annotator", sa.String(128), nullable=False),
    sa.Column("stage", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("sample_id", "annotator", "stage", name="uq_assignment"),
)

labels = sa.Table(
    "labels",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sample_id", sa.String(64), sa.ForeignKey("tasks.sample_id"), nullable=False),
    sa.Column("annotator", sa.String(128), nullable=False),
    sa.Column("stage", sa.Integer, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("replaces", sa.Integer, sa.ForeignKey("labels.id"), nullable=True, unique=True),
    sa.Column("verdict", sa.String(16), nullable=False),  # label (stage 1), accept or vote (stage 2)
    sa.Column("slots", sa.Text, nullable=False),  # JSON list of AKxx:ETyyy in the action's slot order
    sa.Column("fkg_score", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=True),  # manual score, if the annotator gave one
    sa.Column("feedback", sa.Text, nullable=False),
    sa.Column("repetition", sa.Integer, nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("sample_id", "annotator", "stage", "revision", name="uq_label_revision"),
)

segments = sa.Table(
    "segments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("trial", sa.String(64), nullable=False, index=True),
    sa.Column("rep", sa.Integer, nullable=False),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("turn", sa.Float, nullable=True),  # the turnaround between the two movement phases
    sa.Column("end", sa.Float, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # proposal (segmenter) or correction (a person)
    sa.Column("annotator", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

resolutions = sa.Table(
    "resolutions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sample_id", sa.String(64), sa.ForeignKey("tasks.sample_id"), nullable=False, index=True),
    sa.Column("slots", sa.Text, nullable=False),  # JSON
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("method", sa.String(32), nullable=False),  # accepted | review majority
    sa.Column("votes", sa.Text, nullable=False),  # JSON: the label ids the decision was made from
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
