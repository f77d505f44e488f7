"""Initial schema: machine, environment, run, ceiling, result, sample.

Frozen: a later change to results/db.py gets a new revision, never an edit here. Column
types are spelled out (no import of results.db) so this file keeps meaning what it did.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "environment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("python_version", sa.String(length=64), nullable=True),
        sa.Column("python_implementation", sa.String(length=64), nullable=True),
        sa.Column("numpy_version", sa.String(length=64), nullable=True),
        sa.Column("scipy_version", sa.String(length=64), nullable=True),
        sa.Column("pandas_version", sa.String(length=64), nullable=True),
        sa.Column("torch_version", sa.String(length=64), nullable=True),
        sa.Column("tensorflow_version", sa.String(length=64), nullable=True),
        sa.Column("tensorflow_distribution", sa.String(length=64), nullable=True),
        sa.Column("suite_version", sa.String(length=64), nullable=True),
        sa.Column("git_commit", sa.String(length=64), nullable=True),
        sa.Column("git_dirty", sa.Boolean(), nullable=True),
        sa.Column("env_vars", sa.JSON(), nullable=True),
        sa.Column("framework_info", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environment")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_environment_fingerprint")),
    )
    op.create_table(
        "machine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cpu_model", sa.String(length=255), nullable=True),
        sa.Column("cpu_vendor", sa.String(length=64), nullable=True),
        sa.Column("arch", sa.String(length=32), nullable=True),
        sa.Column("cores_physical", sa.Integer(), nullable=True),
        sa.Column("cores_logical", sa.Integer(), nullable=True),
        sa.Column("freq_base_mhz", sa.Float(), nullable=True),
        sa.Column("freq_max_mhz", sa.Float(), nullable=True),
        sa.Column("l2_cache_bytes", sa.BigInteger(), nullable=True),
        sa.Column("l3_cache_bytes", sa.BigInteger(), nullable=True),
        sa.Column("isa_flags", sa.JSON(), nullable=True),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=True),
        sa.Column("os", sa.String(length=255), nullable=True),
        sa.Column("kernel", sa.String(length=255), nullable=True),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("hostname_hashed", sa.Boolean(), nullable=True),
        sa.Column("gpu_count", sa.Integer(), nullable=True),
        sa.Column("gpu_name", sa.String(length=255), nullable=True),
        sa.Column("gpu_driver", sa.String(length=64), nullable=True),
        sa.Column("gpu_cuda_driver", sa.String(length=32), nullable=True),
        sa.Column("gpus", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_machine")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_machine_fingerprint")),
    )
    op.create_table(
        "run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("profile", sa.String(length=255), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("system", sa.JSON(), nullable=True),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environment.id"], name=op.f("fk_run_environment_id_environment")
        ),
        sa.ForeignKeyConstraint(
            ["machine_id"], ["machine.id"], name=op.f("fk_run_machine_id_machine")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run")),
    )
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_environment_id"), ["environment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_run_machine_id"), ["machine_id"], unique=False)

    op.create_table(
        "ceiling",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(length=32), nullable=False),
        sa.Column("precision", sa.String(length=16), nullable=False),
        sa.Column("gflops", sa.Float(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_ceiling_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ceiling")),
        sa.UniqueConstraint(
            "run_id", "device", "precision", name="uq_ceiling_run_device_precision"
        ),
    )
    op.create_table(
        "result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("framework", sa.String(length=32), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("precision", sa.String(length=16), nullable=False),
        sa.Column("execution", sa.String(length=32), nullable=False),
        sa.Column("image_size", sa.Integer(), nullable=False),
        sa.Column("num_classes", sa.Integer(), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("interop_threads", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("n_samples", sa.Integer(), nullable=False),
        sa.Column("warmup_steps", sa.Integer(), nullable=True),
        sa.Column("first_step_s", sa.Float(), nullable=True),
        sa.Column("build_s", sa.Float(), nullable=True),
        sa.Column("threads_intra", sa.Integer(), nullable=True),
        sa.Column("threads_inter", sa.Integer(), nullable=True),
        sa.Column("sync", sa.String(length=64), nullable=True),
        sa.Column("processes", sa.Integer(), nullable=True),
        sa.Column("peak_memory_bytes", sa.BigInteger(), nullable=True),
        sa.Column("memory_kind", sa.String(length=16), nullable=True),
        sa.Column("ci_target_met", sa.Boolean(), nullable=True),
        sa.Column("total_s", sa.Float(), nullable=True),
        sa.Column("median_s", sa.Float(), nullable=True),
        sa.Column("mean_s", sa.Float(), nullable=True),
        sa.Column("stdev_s", sa.Float(), nullable=True),
        sa.Column("min_s", sa.Float(), nullable=True),
        sa.Column("max_s", sa.Float(), nullable=True),
        sa.Column("p5_s", sa.Float(), nullable=True),
        sa.Column("p25_s", sa.Float(), nullable=True),
        sa.Column("p75_s", sa.Float(), nullable=True),
        sa.Column("p95_s", sa.Float(), nullable=True),
        sa.Column("p99_s", sa.Float(), nullable=True),
        sa.Column("iqr_s", sa.Float(), nullable=True),
        sa.Column("ci_low_s", sa.Float(), nullable=True),
        sa.Column("ci_high_s", sa.Float(), nullable=True),
        sa.Column("images_per_s", sa.Float(), nullable=True),
        sa.Column("gmacs_per_s", sa.Float(), nullable=True),
        sa.Column("gflops_per_s", sa.Float(), nullable=True),
        sa.Column("iqr_rel", sa.Float(), nullable=True),
        sa.Column("ci_rel", sa.Float(), nullable=True),
        sa.Column("unstable", sa.Boolean(), nullable=True),
        sa.Column("throttled", sa.Boolean(), nullable=True),
        sa.Column("gmacs_per_image", sa.Float(), nullable=True),
        sa.Column("framework_version", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("gpu_before", sa.JSON(), nullable=True),
        sa.Column("gpu_after", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_result_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_result")),
        sa.UniqueConstraint(
            "run_id",
            "framework",
            "depth",
            "batch_size",
            "device",
            "mode",
            "precision",
            "execution",
            "image_size",
            "num_classes",
            "threads",
            "interop_threads",
            name="uq_result_run_case",
        ),
    )
    op.create_table(
        "sample",
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("process", sa.Integer(), nullable=False),
        sa.Column("duration_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["result.id"],
            name=op.f("fk_sample_result_id_result"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("result_id", "idx", name=op.f("pk_sample")),
    )


def downgrade() -> None:
    op.drop_table("sample")
    op.drop_table("result")
    op.drop_table("ceiling")
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_machine_id"))
        batch_op.drop_index(batch_op.f("ix_run_environment_id"))

    op.drop_table("run")
    op.drop_table("machine")
    op.drop_table("environment")
