"""Secrets out of databases stored before the masking rules of issue 22: a password given
as a URL query parameter (`?password=...`) or holding a space was stored in run.command,
and environment variables named like OMP_AUTH, TF_AUTH_BEARER, TORCH_HUB_CRED,
TORCH_PRIVATE_PEM, or holding a credential in their value (TF_CONFIG with `u:pw@host`),
were stored verbatim.

Every run.command is masked again and every environment's env_vars masked with
results.redact's rules (today's: a redaction only ever grows stricter, and a database
opened later should lose whatever today's rule masks). The environment's fingerprint is
kept: it identifies the row, and runs recorded from now on fingerprint the masked values.
Not reversible: the downgrade leaves the masked values.

Revision ID: 0010
Revises: 0009_environments
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from results.redact import redact, redact_env

revision: str = "0010"
down_revision: str | None = "0009_environments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    run = sa.table("run", sa.column("id", sa.Integer), sa.column("command", sa.Text))
    for run_id, command in conn.execute(
        sa.select(run.c.id, run.c.command).where(run.c.command.is_not(None))
    ).all():
        clean = redact(command)
        if clean != command:
            conn.execute(sa.update(run).where(run.c.id == run_id).values(command=clean))
    env = sa.table("environment", sa.column("id", sa.Integer), sa.column("env_vars", sa.JSON))
    for env_id, values in conn.execute(
        sa.select(env.c.id, env.c.env_vars).where(env.c.env_vars.is_not(None))
    ).all():
        if isinstance(values, str):  # a driver that hands JSON back as text
            values = json.loads(values)
        if not isinstance(values, dict):
            continue
        clean_env = redact_env({str(k): str(v) for k, v in values.items()})
        if clean_env != values:
            conn.execute(sa.update(env).where(env.c.id == env_id).values(env_vars=clean_env))


def downgrade() -> None:
    pass  # the secrets are gone for good
