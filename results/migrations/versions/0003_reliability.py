"""Reliability: redact credentials in the command lines of runs stored before they were
redacted (`run --db postgresql+psycopg://user:PASSWORD@host/db` was stored as typed), and
record who runs a run (host, pid, heartbeat) so that a run whose process is gone shows as
stale.

The password of every URL in run.command becomes ***; that is not reversible (the
downgrade drops the owner columns and leaves the redacted text).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A copy of results.redact's rule as of this revision, so the migration keeps its meaning.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)\S*@")


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("owner_host", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("owner_pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    conn = op.get_bind()
    run = sa.table("run", sa.column("id", sa.Integer), sa.column("command", sa.Text))
    rows = conn.execute(sa.select(run.c.id, run.c.command).where(run.c.command.is_not(None)))
    for run_id, command in rows.all():
        clean = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}***@", command)
        if clean != command:
            conn.execute(sa.update(run).where(run.c.id == run_id).values(command=clean))


def downgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner_pid")
        batch.drop_column("owner_host")
    # the passwords are gone for good
