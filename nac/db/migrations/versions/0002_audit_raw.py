"""Audit rows keep wire bytes and the decision context; words are rendered when read.

The RADIUS request path no longer renders attribute names and trace words for every
decision: the writer stores the request and reply attributes as bytes (secrets removed) and
the context needed to replay the decision, and readers render them. The JSON columns stay for
rows written before this revision.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("request_raw", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("reply_raw", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("context", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("context")
        batch.drop_column("reply_raw")
        batch.drop_column("request_raw")
