"""A/B environments in one run (issue 18): result.env, part of the case key ('' for the
results stored before, which ran in the run's one environment), and run_environment, each
named environment's interpreter, variables and probed software.

Revision ID: 0009_environments
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_environments"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in 0005: SQLite's batch mode recreates result to change its unique constraint, and
# dropping the old table may cascade to its children; whatever went is put back.
CHILDREN = ("sample", "process")
OLD_KEY = (
    "run_id", "framework", "depth", "batch_size", "device", "mode", "precision", "execution",
    "image_size", "num_classes", "threads", "interop_threads", "replicas",
)  # fmt: skip


def _keeping_children(change: Callable[[], None]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in CHILDREN if sqlite else ():
        op.execute(f"CREATE TEMP TABLE keep_{table} AS SELECT * FROM {table}")
    change()
    for table in CHILDREN if sqlite else ():
        op.execute(f"INSERT OR IGNORE INTO {table} SELECT * FROM keep_{table}")
        op.execute(f"DROP TABLE keep_{table}")


def upgrade() -> None:
    def change() -> None:
        with op.batch_alter_table("result") as batch:
            batch.add_column(
                sa.Column("env", sa.String(length=64), nullable=False, server_default="")
            )
            batch.drop_constraint("uq_result_run_case", type_="unique")
            batch.create_unique_constraint("uq_result_run_case", [*OLD_KEY, "env"])

    _keeping_children(change)
    op.create_table(
        "run_environment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("python", sa.Text(), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=True),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name="fk_run_environment_run_id_run", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environment.id"],
            name="fk_run_environment_environment_id_environment",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_run_environment"),
        sa.UniqueConstraint("run_id", "name", name="uq_run_environment_run_name"),
    )
    op.create_index("ix_run_environment_run_id", "run_environment", ["run_id"])
    op.create_index("ix_run_environment_environment_id", "run_environment", ["environment_id"])


def downgrade() -> None:
    op.drop_index("ix_run_environment_environment_id", table_name="run_environment")
    op.drop_index("ix_run_environment_run_id", table_name="run_environment")
    op.drop_table("run_environment")

    def change() -> None:
        with op.batch_alter_table("result") as batch:
            batch.drop_constraint("uq_result_run_case", type_="unique")
            batch.create_unique_constraint("uq_result_run_case", list(OLD_KEY))
            batch.drop_column("env")

    _keeping_children(change)
