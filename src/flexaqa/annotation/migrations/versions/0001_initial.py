"""The first schema: project, tasks, assignments, append-only labels, segments, resolutions.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "project",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "tasks",
        sa.Column("sample_id", sa.String(64), primary_key=True),
        sa.Column("trial", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("rep", sa.Integer, nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_tasks_trial", "tasks", ["trial"])
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sample_id", sa.String(64), sa.ForeignKey("tasks.sample_id"), nullable=False),
        sa.Column("annotator", sa.String(128), nullable=False),
        sa.Column("stage", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("sample_id", "annotator", "stage", name="uq_assignment"),
    )
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sample_id", sa.String(64), sa.ForeignKey("tasks.sample_id"), nullable=False),
        sa.Column("annotator", sa.String(128), nullable=False),
        sa.Column("stage", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("replaces", sa.Integer, sa.ForeignKey("labels.id"), nullable=True, unique=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("slots", sa.Text, nullable=False),
        sa.Column("fkg_score", sa.Float, nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("feedback", sa.Text, nullable=False),
        sa.Column("repetition", sa.Integer, nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("sample_id", "annotator", "stage", "revision", name="uq_label_revision"),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trial", sa.String(64), nullable=False),
        sa.Column("rep", sa.Integer, nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("turn", sa.Float, nullable=True),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("annotator", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_segments_trial", "segments", ["trial"])
    op.create_table(
        "resolutions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sample_id", sa.String(64), sa.ForeignKey("tasks.sample_id"), nullable=False),
        sa.Column("slots", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("votes", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_resolutions_sample_id", "resolutions", ["sample_id"])


def downgrade() -> None:
    for name in ("resolutions", "segments", "labels", "assignments", "tasks", "project"):
        op.drop_table(name)
