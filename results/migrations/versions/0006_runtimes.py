"""Two more runtimes: the jax, jaxlib and ONNX Runtime versions of an environment, beside
torch's and TensorFlow's, so that `compare` lists them among the settings that differ.

Environments stored before have none of them (NULL): those runs had neither runtime.

Revision ID: 0006
Revises: 0005_replicas
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005_replicas"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("jax_version", "jaxlib_version", "onnxruntime_version", "onnxruntime_distribution")


def upgrade() -> None:
    with op.batch_alter_table("environment") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("environment") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
