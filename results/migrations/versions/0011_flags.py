"""Flags that name a trouble (vocab.flags) replace the catch-all `unstable`.

A result gets `flags` (JSON: a list of {kind, process, detail}), `left_out` (JSON: the
process indices left out of its value and CI) and `ci_df` (its CI's degrees of freedom); a
process gets `left_out` and its warm-up steps (`warmup_times_s`). Results stored before
keep what they said: an `unstable` one gets one flag of kind "legacy" carrying its stored
reason; the others get no flags. Their value and CI are unchanged (nothing was left out).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_result = sa.table(
    "result",
    sa.column("id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("unstable", sa.Boolean()),
    sa.column("unstable_reason", sa.Text()),
    sa.column("flags", sa.JSON()),
    sa.column("left_out", sa.JSON()),
)


def upgrade() -> None:
    with op.batch_alter_table("result") as batch:
        batch.add_column(sa.Column("flags", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("left_out", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("ci_df", sa.Integer(), nullable=True))
    with op.batch_alter_table("process") as batch:
        batch.add_column(sa.Column("left_out", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("warmup_times_s", sa.JSON(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_result.c.id, _result.c.unstable, _result.c.unstable_reason).where(
            _result.c.unstable.is_not(None)
        )
    ).all()
    for rid, unstable, reason in rows:
        flags = [{"kind": "legacy", "process": None, "detail": reason or "marked unstable"}]
        bind.execute(
            sa.update(_result)
            .where(_result.c.id == rid)
            .values(flags=flags if unstable else [], left_out=[])
        )
    _drop_columns("result", ("unstable_reason", "unstable"))


def _drop_columns(table: str, names: Sequence[str]) -> None:
    """DROP COLUMN in place. On SQLite a batch operation would copy the table and drop the
    old one, and with foreign keys on, that drop deletes every sample and process row of
    the results (ON DELETE CASCADE); SQLite >= 3.35 drops a plain column in place."""
    for name in names:
        op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")


def downgrade() -> None:
    with op.batch_alter_table("result") as batch:
        batch.add_column(sa.Column("unstable", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("unstable_reason", sa.Text(), nullable=True))
    bind = op.get_bind()
    for rid, flags in bind.execute(sa.select(_result.c.id, _result.c.flags)).all():
        if flags is None:
            continue
        found = json.loads(flags) if isinstance(flags, str) else flags
        reason = "; ".join(f"{f['kind']}: {f['detail']}" for f in found) or None
        bind.execute(
            sa.update(_result)
            .where(_result.c.id == rid)
            .values(unstable=bool(found), unstable_reason=reason)
        )
    _drop_columns("process", ("warmup_times_s", "left_out"))
    _drop_columns("result", ("ci_df", "left_out", "flags"))
