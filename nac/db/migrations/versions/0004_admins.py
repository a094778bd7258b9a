"""Console administrators and API tokens (the web console).

``admins`` are the people who log in to the console, separate from the network ``users``:
a role (auditor, operator, admin) and an argon2id password hash. ``api_tokens`` are bearer
tokens for scripts, owned by an admin and scoped to a role; only the SHA-256 of the token is
stored (it is shown once when created).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "admins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("last_login", UTC_TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_admins"),
        sa.UniqueConstraint("name", name="uq_admins_name"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("last_used", UTC_TS, nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"], ["admins.id"], name="fk_api_tokens_admin_id_admins", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_admin_id", "api_tokens", ["admin_id"])


def downgrade() -> None:
    op.drop_index("ix_api_tokens_admin_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("admins")
