"""Initial schema: NAS clients, users and groups, endpoints, policy versions, config state,
audit log and accounting sessions.

Revision ID: 0001
Revises:
Create Date: 2024-06-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_OR_NULL = sa.JSON(none_as_null=True)


def upgrade() -> None:
    op.create_table(
        "nas_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("tacacs_key_enc", sa.LargeBinary(), nullable=True),
        sa.Column("vendor", sa.String(32), nullable=False),
        sa.Column("device_group", sa.String(128), nullable=False),
        sa.Column("location", sa.String(128), nullable=False),
        sa.Column("require_message_authenticator", sa.String(8), nullable=False),
        sa.Column("limit_proxy_state", sa.String(8), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.Column("last_seen", UTC_TS, nullable=True),
        sa.Column("message_authenticator_seen", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_nas_clients"),
        sa.UniqueConstraint("name", name="uq_nas_clients_name"),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
        sa.UniqueConstraint("name", name="uq_groups_name"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("password_enc", sa.LargeBinary(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )
    op.create_table(
        "user_groups",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_groups_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name="fk_user_groups_group_id_groups", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "group_id", name="pk_user_groups"),
    )
    op.create_index("ix_user_groups_group_id", "user_groups", ["group_id"])
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(17), nullable=False),
        sa.Column("profile", sa.String(128), nullable=True),
        sa.Column("group", sa.String(128), nullable=True),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("first_seen", UTC_TS, nullable=False),
        sa.Column("last_seen", UTC_TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_endpoints"),
        sa.UniqueConstraint("mac", name="uq_endpoints_mac"),
    )
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("comment", sa.String(1024), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_policy_versions"),
        sa.UniqueConstraint("version", name="uq_policy_versions_version"),
    )
    config_state = op.create_table(
        "config_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_config_state"),
    )
    op.execute(config_state.insert().values(id=1, version=0, updated_at=sa.func.now()))
    op.create_table(
        "audit_log",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("ts", UTC_TS, nullable=False),
        sa.Column("node", sa.String(128), nullable=False),
        sa.Column("protocol", sa.String(16), nullable=False),
        sa.Column("nas_name", sa.String(128), nullable=True),
        sa.Column("nas_ip", sa.String(45), nullable=True),
        sa.Column("username", sa.String(253), nullable=True),
        sa.Column("mac", sa.String(17), nullable=True),
        sa.Column("method", sa.String(32), nullable=True),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("policy_set", sa.String(128), nullable=True),
        sa.Column("authentication_rule", sa.String(128), nullable=True),
        sa.Column("authorization_rule", sa.String(128), nullable=True),
        sa.Column("profile", sa.String(128), nullable=True),
        sa.Column("session_class", sa.String(253), nullable=True),
        sa.Column("latency_us", sa.Integer(), nullable=False),
        sa.Column("request", JSON_OR_NULL, nullable=True),
        sa.Column("reply", JSON_OR_NULL, nullable=True),
        sa.Column("trace", JSON_OR_NULL, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    for column in ("ts", "username", "mac", "result"):
        op.create_index(f"ix_audit_log_{column}", "audit_log", [column])
    op.create_table(
        "accounting_sessions",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("unique_key", sa.String(128), nullable=False),
        sa.Column("acct_session_id", sa.String(253), nullable=False),
        sa.Column("username", sa.String(253), nullable=True),
        sa.Column("mac", sa.String(17), nullable=True),
        sa.Column("nas_name", sa.String(128), nullable=True),
        sa.Column("nas_ip", sa.String(45), nullable=True),
        sa.Column("nas_port", sa.BigInteger(), nullable=True),
        sa.Column("nas_port_id", sa.String(253), nullable=True),
        sa.Column("framed_ip", sa.String(45), nullable=True),
        sa.Column("class", sa.String(253), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_time", UTC_TS, nullable=True),
        sa.Column("last_update", UTC_TS, nullable=False),
        sa.Column("stop_time", UTC_TS, nullable=True),
        sa.Column("session_time", sa.BigInteger(), nullable=False),
        sa.Column("input_octets", sa.BigInteger(), nullable=False),
        sa.Column("output_octets", sa.BigInteger(), nullable=False),
        sa.Column("input_packets", sa.BigInteger(), nullable=False),
        sa.Column("output_packets", sa.BigInteger(), nullable=False),
        sa.Column("terminate_cause", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_accounting_sessions"),
        sa.UniqueConstraint("unique_key", name="uq_accounting_sessions_unique_key"),
    )
    for column in ("username", "mac", "nas_ip", "status", "start_time"):
        op.create_index(f"ix_accounting_sessions_{column}", "accounting_sessions", [column])


def downgrade() -> None:
    for table in (
        "accounting_sessions",
        "audit_log",
        "config_state",
        "policy_versions",
        "endpoints",
        "user_groups",
        "users",
        "groups",
        "nas_clients",
    ):
        op.drop_table(table)
