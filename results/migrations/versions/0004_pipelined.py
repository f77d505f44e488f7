"""Throughput with one sync per k steps (issue 10): result.pipeline_steps (k),
result.pipelined_s and pipelined_images_per_s, and each process's pipelined_s. NULL for
results stored before, and for CPU cases (their steps end synchronously).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("result") as batch:
        batch.add_column(sa.Column("pipeline_steps", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("pipelined_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("pipelined_images_per_s", sa.Float(), nullable=True))
    with op.batch_alter_table("process") as batch:
        batch.add_column(sa.Column("pipelined_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("process") as batch:
        batch.drop_column("pipelined_s")
    with op.batch_alter_table("result") as batch:
        batch.drop_column("pipelined_images_per_s")
        batch.drop_column("pipelined_s")
        batch.drop_column("pipeline_steps")
