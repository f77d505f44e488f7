"""A ceiling per environment of an A/B run: ceiling.env ('' for the ceilings stored before,
and for runs without --env).

An A/B run's environments can differ in what the machine can do for them (a variable that
caps oneDNN at AVX2 lowers the matmul rate too), so each named environment's probe measures
its own ceiling and a case's share of the ceiling is taken against its environment's. The
ceilings stored before were measured in the run's first environment; they keep env '' and
serve every case of their run, as before.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ceiling") as batch:
        batch.add_column(sa.Column("env", sa.String(length=64), nullable=False, server_default=""))
        batch.drop_constraint("uq_ceiling_run_device_precision", type_="unique")
        batch.create_unique_constraint(
            "uq_ceiling_run_env_device_precision", ["run_id", "env", "device", "precision"]
        )


def downgrade() -> None:
    # Keep one ceiling per device and precision: the run's own ('') or its first
    # environment's (the lowest id), as a run stored before this revision had.
    op.execute(
        "DELETE FROM ceiling WHERE id NOT IN (SELECT MIN(id) FROM ceiling "
        "GROUP BY run_id, device, precision)"
    )
    with op.batch_alter_table("ceiling") as batch:
        batch.drop_constraint("uq_ceiling_run_env_device_precision", type_="unique")
        batch.create_unique_constraint(
            "uq_ceiling_run_device_precision", ["run_id", "device", "precision"]
        )
        batch.drop_column("env")
