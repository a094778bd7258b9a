"""Plain records the service writers hand to crud (no ORM objects on the hot path)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any


class AcctStatus(IntEnum):
    """Acct-Status-Type values apply_accounting understands (RFC 2866 5.1)."""

    START = 1
    STOP = 2
    INTERIM_UPDATE = 3
    ACCOUNTING_ON = 7
    ACCOUNTING_OFF = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecordIn:
    """One access decision, as written to ``audit_log``.

    ``request``/``reply``/``trace`` are JSON-able lists/dicts and must already be redacted
    (no User-Password, CHAP, MS-CHAP or EAP secrets): the data layer stores them as given.
    """

    ts: datetime
    protocol: str  # "radius" | "tacacs"
    result: str  # "accept" | "reject" | "challenge" | "drop" | ...
    node: str = ""
    nas_name: str | None = None
    nas_ip: str | None = None
    username: str | None = None
    mac: str | None = None
    method: str | None = None  # "pap" | "chap" | "mab" | "eap-tls" | ...
    reason_code: int = 0
    reason: str = ""
    policy_set: str | None = None
    authentication_rule: str | None = None
    authorization_rule: str | None = None
    profile: str | None = None
    session_class: str | None = None
    latency_us: int = 0
    request: Any = None
    reply: Any = None
    trace: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountingRecordIn:
    """One accounting request, reduced to what ``accounting_sessions`` keeps.

    ``status_type``: 1 Start, 2 Stop, 3 Interim-Update, 7 Accounting-On, 8 Accounting-Off
    (others are ignored). ``event_time``: Event-Timestamp if sent, else the arrival time (UTC,
    timezone-aware). ``nas_ip``: NAS-IP-Address / NAS-IPv6-Address, else the source address.
    Octet counters have Acct-(Input|Output)-Gigawords already folded in. For Accounting-On/Off
    only ``status_type``, ``event_time``, ``nas_name`` and ``nas_ip`` matter.
    """

    status_type: int
    event_time: datetime
    unique_key: str = ""
    acct_session_id: str = ""
    username: str | None = None
    mac: str | None = None
    calling_station_id: str | None = None  # as the NAS sent it (CoA echoes it back)
    nas_name: str | None = None
    nas_ip: str | None = None
    nas_port: int | None = None
    nas_port_id: str | None = None
    framed_ip: str | None = None
    class_: str | None = None
    session_time: int | None = None
    input_octets: int | None = None
    output_octets: int | None = None
    input_packets: int | None = None
    output_packets: int | None = None
    terminate_cause: str | None = None
