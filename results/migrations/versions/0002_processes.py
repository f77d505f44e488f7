"""Replication by processes: per-process rows, step rounds and start times, the case value
between processes, pending processes for --resume, and noise floors from A/A runs.

Results stored before this revision were measured in one process (or pooled several): their
value_s becomes their median_s, each sample's round its process number. Their CI stays what
it was (the within-process CI of the median); `processes` tells the two kinds apart.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("result") as batch:
        batch.add_column(sa.Column("ci_target", sa.Float(), nullable=True))
        batch.add_column(sa.Column("stop_reason", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("value_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("sd_log_between", sa.Float(), nullable=True))
        batch.add_column(sa.Column("drift_rel", sa.Float(), nullable=True))
        batch.add_column(sa.Column("unstable_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("sample") as batch:
        batch.add_column(sa.Column("round", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("started_ns", sa.BigInteger(), nullable=True))
    op.execute("UPDATE result SET value_s = median_s WHERE value_s IS NULL")
    op.execute("UPDATE sample SET round = process WHERE round IS NULL")
    op.create_table(
        "process",
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("startup_s", sa.Float(), nullable=True),
        sa.Column("build_s", sa.Float(), nullable=True),
        sa.Column("warmup_steps", sa.Integer(), nullable=True),
        sa.Column("warmup_s", sa.Float(), nullable=True),
        sa.Column("warmup_stable", sa.Boolean(), nullable=True),
        sa.Column("first_step_s", sa.Float(), nullable=True),
        sa.Column("n_samples", sa.Integer(), nullable=False),
        sa.Column("value_s", sa.Float(), nullable=True),
        sa.Column("batch_means_rel", sa.Float(), nullable=True),
        sa.Column("drift_rel", sa.Float(), nullable=True),
        sa.Column("peak_memory_bytes", sa.BigInteger(), nullable=True),
        sa.Column("throttled", sa.Boolean(), nullable=True),
        sa.Column("gpu_before", sa.JSON(), nullable=True),
        sa.Column("gpu_after", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["result.id"],
            name=op.f("fk_process_result_id_result"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("result_id", "idx", name=op.f("pk_process")),
    )
    op.create_table(
        "pending",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("case_key", sa.Text(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("measurement", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_pending_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending")),
    )
    op.create_index(op.f("ix_pending_run_id"), "pending", ["run_id"], unique=False)
    op.create_table(
        "noise_floor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_key", sa.Text(), nullable=False),
        sa.Column("runs", sa.JSON(), nullable=False),
        sa.Column("sd_log", sa.Float(), nullable=False),
        sa.Column("floor", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"], ["machine.id"], name=op.f("fk_noise_floor_machine_id_machine")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_noise_floor")),
    )
    op.create_index(op.f("ix_noise_floor_machine_id"), "noise_floor", ["machine_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_noise_floor_machine_id"), table_name="noise_floor")
    op.drop_table("noise_floor")
    op.drop_index(op.f("ix_pending_run_id"), table_name="pending")
    op.drop_table("pending")
    op.drop_table("process")
    with op.batch_alter_table("sample") as batch:
        batch.drop_column("started_ns")
        batch.drop_column("round")
    with op.batch_alter_table("result") as batch:
        for column in (
            "unstable_reason", "drift_rel", "sd_log_between", "value_s", "stop_reason",
            "ci_target",
        ):  # fmt: skip
            batch.drop_column(column)
