"""Versions as rows, not columns: an environment's runtime versions and distributions move
from one column per runtime (torch_version, ..., onnxruntime_distribution) to key/value
rows in environment_version, under results.metadata.VERSION_KEYS. A new runtime then needs
no column. Every non-null value is kept; downgrading puts them back into the columns.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns as 0001 and 0006 made them (frozen here: the registry may grow).
COLUMNS = (
    "torch_version", "tensorflow_version", "tensorflow_distribution", "jax_version",
    "jaxlib_version", "onnxruntime_version", "onnxruntime_distribution",
)  # fmt: skip

environment = sa.table("environment", sa.column("id", sa.Integer), *(sa.column(c) for c in COLUMNS))
version = sa.table(
    "environment_version",
    sa.column("environment_id", sa.Integer),
    sa.column("key", sa.String),
    sa.column("value", sa.String),
)


def _create_version_table() -> None:
    op.create_table(
        "environment_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environment.id"],
            name=op.f("fk_environment_version_environment_id_environment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environment_version")),
        sa.UniqueConstraint("environment_id", "key", name="uq_environment_version_key"),
    )
    op.create_index(
        op.f("ix_environment_version_environment_id"), "environment_version", ["environment_id"]
    )


def upgrade() -> None:
    # Plain ALTER TABLE DROP/ADD COLUMN (SQLite 3.35+): a batch copy of the table would
    # drop the one that run rows reference.
    rows = [
        {"environment_id": env.id, "key": name, "value": getattr(env, name)}
        for env in op.get_bind().execute(sa.select(environment))
        for name in COLUMNS
        if getattr(env, name) is not None
    ]
    for name in COLUMNS:
        op.drop_column("environment", name)
    _create_version_table()
    if rows:
        op.bulk_insert(version, rows)


def downgrade() -> None:
    conn = op.get_bind()
    rows = list(conn.execute(sa.select(version).where(version.c.key.in_(COLUMNS))))
    op.drop_table("environment_version")
    for name in COLUMNS:
        op.add_column("environment", sa.Column(name, sa.String(length=64), nullable=True))
    for row in rows:
        conn.execute(
            environment.update()
            .where(environment.c.id == row.environment_id)
            .values({row.key: row.value})
        )
