"""History reads a machine's runs in time order (`resnet-bench history`): an index on
run (machine_id, started_at), so that the runs of one machine since a date, or its last N,
are found without reading every run of a shared database.

The result rows of those runs are found through uq_result_run_case, whose first column is
run_id. Nothing is rewritten; old databases gain the index.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_run_machine_id_started_at"


def upgrade() -> None:
    op.create_index(INDEX, "run", ["machine_id", "started_at"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="run")
