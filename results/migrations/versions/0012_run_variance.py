"""Run-to-run variance replaces the noise floor (issue 18 item 3).

`calibrate` now keeps, per machine, case and thread count, the variance of a whole run's
shift that the run's own processes cannot show (results.noise), learnt from at least 5
checked A/A runs; run-vs-run `compare` adds it to the ratio's standard error. The old
noise floors were a normal quantile on an sd from 2-3 unchecked runs (1-2 df), pooled
over thread counts: they cannot be turned into a variance with its degrees of freedom, so
the table goes (calibrate again: `resnet-bench calibrate`). The downgrade brings back an
empty noise_floor table.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_variance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_key", sa.Text(), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("runs", sa.JSON(), nullable=False),
        sa.Column("sd_log", sa.Float(), nullable=False),
        sa.Column("run_var", sa.Float(), nullable=False),
        sa.Column("run_df", sa.Float(), nullable=False),
        sa.Column("processes", sa.Float(), nullable=True),
        sa.Column("sd_process", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["machine_id"], ["machine.id"], name=op.f("fk_run_variance_machine_id_machine")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_variance")),
    )
    op.create_index(
        op.f("ix_run_variance_machine_id"), "run_variance", ["machine_id"], unique=False
    )
    op.drop_index(op.f("ix_noise_floor_machine_id"), table_name="noise_floor")
    op.drop_table("noise_floor")


def downgrade() -> None:
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
    op.drop_index(op.f("ix_run_variance_machine_id"), table_name="run_variance")
    op.drop_table("run_variance")
