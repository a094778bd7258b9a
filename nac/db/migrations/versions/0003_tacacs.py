"""TACACS+ device administration: enable secrets, key rotation, unencrypted devices.

``users.enable_secret_enc`` and ``nas_clients.enable_secret_enc`` hold the encrypted secret that
`enable` (privilege 15) is checked against: the user's own, else the device's.
``nas_clients.tacacs_extra_keys_enc`` holds further accepted keys (an encrypted JSON list) so a
key can be rotated device by device; ``nas_clients.tacacs_unencrypted`` allows the TACACS+
unencrypted flag over plain TCP for that device.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("enable_secret_enc", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("nas_clients") as batch:
        batch.add_column(sa.Column("tacacs_extra_keys_enc", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("enable_secret_enc", sa.LargeBinary(), nullable=True))
        batch.add_column(
            sa.Column("tacacs_unencrypted", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("nas_clients") as batch:
        batch.drop_column("tacacs_unencrypted")
        batch.drop_column("enable_secret_enc")
        batch.drop_column("tacacs_extra_keys_enc")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("enable_secret_enc")
