"""Data-parallel training (issue 14): result.replicas, part of the case key. Results stored
before ran on one process: 1.

Revision ID: 0005_replicas
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_replicas"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose rows hang off result with ON DELETE CASCADE: SQLite's batch mode recreates
# result to change its unique constraint, and dropping the old table (foreign keys are on,
# and cannot be turned off inside the migration's transaction) may delete them: whatever
# went is put back.
CHILDREN = ("sample", "process")
OLD_KEY = (
    "run_id", "framework", "depth", "batch_size", "device", "mode", "precision", "execution",
    "image_size", "num_classes", "threads", "interop_threads",
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
                sa.Column("replicas", sa.Integer(), nullable=False, server_default="1")
            )
            batch.drop_constraint("uq_result_run_case", type_="unique")
            batch.create_unique_constraint("uq_result_run_case", [*OLD_KEY, "replicas"])

    _keeping_children(change)


def downgrade() -> None:
    def change() -> None:
        with op.batch_alter_table("result") as batch:
            batch.drop_constraint("uq_result_run_case", type_="unique")
            batch.create_unique_constraint("uq_result_run_case", list(OLD_KEY))
            batch.drop_column("replicas")

    _keeping_children(change)
