"""Profiling, posture, dynamic authorization and the admin change log.

* ``endpoints`` grows: registered and blocked flags, OUI vendor, randomized-MAC flag, hostname, DHCP
  fingerprint and vendor class, profile confidence and source, accumulated signals, the
  last user, the posture state/score/failed checks, and ``state_seq`` (from the new
  ``config_state.endpoint_seq``) so workers fetch only the endpoints that changed.
* ``endpoint_events`` (profile change, possible MAC spoofing, posture change, CoA, ...),
  ``posture_reports`` (the posture history), ``posture_tokens`` (nac-agent enrollment, the
  SHA-256 of each token) and ``profile_rules`` (weighted profiling rules).
* ``accounting_sessions.calling_station_id``: as the NAS sent it, for CoA to echo.
* ``nas_clients``: the RFC 5176 ports (CoA and Disconnect apart) and what the NAS accepts.
* ``admin_changes``: every change by any admin with before and after.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_ENDPOINT_COLUMNS = (
    ("registered", sa.Boolean(), sa.true()),
    ("blocked", sa.Boolean(), sa.false()),
    ("vendor", sa.String(128), None),
    ("randomized", sa.Boolean(), sa.false()),
    ("hostname", sa.String(253), None),
    ("dhcp_fingerprint", sa.String(512), None),
    ("dhcp_vendor_class", sa.String(253), None),
    ("profile_confidence", sa.Integer(), sa.text("0")),
    ("profile_source", sa.String(64), None),
    ("signals", sa.JSON(), sa.text("'{}'")),
    ("last_user", sa.String(253), None),
    ("posture_state", sa.String(16), sa.text("'unknown'")),
    ("posture_score", sa.Integer(), sa.text("0")),
    ("posture_failed", sa.JSON(), sa.text("'[]'")),
    ("posture_at", UTC_TS, None),
    ("state_seq", sa.BigInteger(), sa.text("0")),
)


def upgrade() -> None:
    with op.batch_alter_table("endpoints") as batch:
        for name, type_, default in _ENDPOINT_COLUMNS:
            batch.add_column(
                sa.Column(name, type_, nullable=default is None, server_default=default)
            )
    op.create_index("ix_endpoints_state_seq", "endpoints", ["state_seq"])
    with op.batch_alter_table("config_state") as batch:
        batch.add_column(
            sa.Column("endpoint_seq", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("accounting_sessions") as batch:
        batch.add_column(sa.Column("calling_station_id", sa.String(253), nullable=True))
    with op.batch_alter_table("nas_clients") as batch:
        batch.add_column(sa.Column("coa_port", sa.Integer(), nullable=False, server_default="3799"))
        batch.add_column(
            sa.Column("disconnect_port", sa.Integer(), nullable=False, server_default="3799")
        )
        batch.add_column(
            sa.Column("coa_mode", sa.String(16), nullable=False, server_default="auto")
        )

    op.create_table(
        "endpoint_events",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("ts", UTC_TS, nullable=False),
        sa.Column("mac", sa.String(17), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_endpoint_events"),
    )
    op.create_index("ix_endpoint_events_ts", "endpoint_events", ["ts"])
    op.create_index("ix_endpoint_events_mac", "endpoint_events", ["mac"])
    op.create_index("ix_endpoint_events_kind", "endpoint_events", ["kind"])

    op.create_table(
        "posture_reports",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("ts", UTC_TS, nullable=False),
        sa.Column("mac", sa.String(17), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("failed", sa.JSON(), nullable=False),
        sa.Column("policy", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_posture_reports"),
    )
    op.create_index("ix_posture_reports_ts", "posture_reports", ["ts"])
    op.create_index("ix_posture_reports_mac", "posture_reports", ["mac"])

    op.create_table(
        "posture_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(17), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("last_used", UTC_TS, nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_posture_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_posture_tokens_token_hash"),
    )
    op.create_index("ix_posture_tokens_mac", "posture_tokens", ["mac"])

    op.create_table(
        "profile_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("profile", sa.String(64), nullable=False),
        sa.Column("signal", sa.String(64), nullable=False),
        sa.Column("pattern", sa.String(512), nullable=False),
        sa.Column("match", sa.String(16), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_profile_rules"),
        sa.UniqueConstraint("name", name="uq_profile_rules_name"),
    )

    op.create_table(
        "admin_changes",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("ts", UTC_TS, nullable=False),
        sa.Column("admin", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_key", sa.String(253), nullable=False),
        sa.Column("before", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("after", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("comment", sa.String(1024), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_admin_changes"),
    )
    op.create_index("ix_admin_changes_ts", "admin_changes", ["ts"])
    op.create_index("ix_admin_changes_admin", "admin_changes", ["admin"])
    op.create_index("ix_admin_changes_object_type", "admin_changes", ["object_type"])


def downgrade() -> None:
    for index, table in (
        ("ix_admin_changes_object_type", "admin_changes"),
        ("ix_admin_changes_admin", "admin_changes"),
        ("ix_admin_changes_ts", "admin_changes"),
    ):
        op.drop_index(index, table_name=table)
    op.drop_table("admin_changes")
    op.drop_table("profile_rules")
    op.drop_index("ix_posture_tokens_mac", table_name="posture_tokens")
    op.drop_table("posture_tokens")
    op.drop_index("ix_posture_reports_mac", table_name="posture_reports")
    op.drop_index("ix_posture_reports_ts", table_name="posture_reports")
    op.drop_table("posture_reports")
    for index in ("ix_endpoint_events_kind", "ix_endpoint_events_mac", "ix_endpoint_events_ts"):
        op.drop_index(index, table_name="endpoint_events")
    op.drop_table("endpoint_events")
    with op.batch_alter_table("nas_clients") as batch:
        for name in ("coa_mode", "disconnect_port", "coa_port"):
            batch.drop_column(name)
    with op.batch_alter_table("accounting_sessions") as batch:
        batch.drop_column("calling_station_id")
    with op.batch_alter_table("config_state") as batch:
        batch.drop_column("endpoint_seq")
    op.drop_index("ix_endpoints_state_seq", table_name="endpoints")
    with op.batch_alter_table("endpoints") as batch:
        for name, _type, _default in reversed(_ENDPOINT_COLUMNS):
            batch.drop_column(name)
