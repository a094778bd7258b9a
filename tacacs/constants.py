"""TACACS+ code points and limits (RFC 8907; RFC 9887 for TLS).

Member names are the RFC's ``TAC_PLUS_*`` names without the common prefix (``TAC_PLUS_AUTHEN_
STATUS_GETPASS`` is ``AuthenStatus.GETPASS``). The wire layer works on plain ``int`` so that
unknown values survive a decode/encode round trip; these enums are for checks and display.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

HEADER_LENGTH = 12
"""RFC 8907 section 4.1: every packet begins with a 12-byte cleartext header."""
MAX_BODY_LENGTH = 1 << 16
"""RFC 8907 section 4.1: "The recommended maximum packet size is 2^(16)"; the default cap on
the header's length field (the connection takes its own ``max_body``)."""
MAX_U8_FIELD = 0xFF
"""Largest value of a one-octet length field (user, port, rem_addr, data in START; args)."""
MAX_U16_FIELD = 0xFFFF
"""Largest value of a two-octet length field (server_msg, data, user_msg)."""
MAX_SEQ_NO = 0xFF
"""RFC 8907 section 4.1: seq_no never wraps; a session that reaches 2^8-1 terminates."""

PORT = 49
"""RFC 8907 section 3.4: TCP port for TACACS+ (obfuscated or not)."""
TLS_PORT = 300
"""RFC 9887 section 7: TCP port for TACACS+ over TLS ("tacacss")."""

TAC_PLUS_MAJOR_VER = 0xC
"""RFC 8907 section 4.1: the only major version."""

PRIV_LVL_MIN = 0x00
PRIV_LVL_USER = 0x01
PRIV_LVL_ROOT = 0x0F
PRIV_LVL_MAX = 0x0F
"""RFC 8907 section 9: privilege levels are 0..15 (0 minimum, 1 user, 15 root/maximum)."""


class MinorVersion(IntEnum):
    """RFC 8907 section 4.1 minor_version (section 5.4.1 says which flow uses which)."""

    DEFAULT = 0x0
    ONE = 0x1


VERSION_DEFAULT = (TAC_PLUS_MAJOR_VER << 4) | MinorVersion.DEFAULT
"""Version octet 0xc0: ASCII authentication, all authorization and accounting."""
VERSION_ONE = (TAC_PLUS_MAJOR_VER << 4) | MinorVersion.ONE
"""Version octet 0xc1: PAP, CHAP, MS-CHAP v1/v2 authentication (RFC 8907 section 5.4.1)."""


class PacketType(IntEnum):
    """RFC 8907 section 4.1 header ``type``."""

    AUTHEN = 0x01
    AUTHOR = 0x02
    ACCT = 0x03


class HeaderFlag(IntFlag):
    """RFC 8907 section 4.1 header ``flags``; all other bits are ignored when reading."""

    UNENCRYPTED = 0x01
    SINGLE_CONNECT = 0x04


class AuthenAction(IntEnum):
    """RFC 8907 section 5.1 ``action``."""

    LOGIN = 0x01
    CHPASS = 0x02
    SENDAUTH = 0x04


class AuthenType(IntEnum):
    """RFC 8907 sections 5.1 and 6.1 ``authen_type`` (NOT_SET and ARAP only appear in
    authorization and accounting; ARAP's normative description was removed, section 1)."""

    NOT_SET = 0x00
    ASCII = 0x01
    PAP = 0x02
    CHAP = 0x03
    ARAP = 0x04
    MSCHAP = 0x05
    MSCHAPV2 = 0x06


class AuthenService(IntEnum):
    """RFC 8907 section 5.1 ``authen_service``."""

    NONE = 0x00
    LOGIN = 0x01
    ENABLE = 0x02
    PPP = 0x03
    PT = 0x05
    RCMD = 0x06
    X25 = 0x07
    NASI = 0x08
    FWPROXY = 0x09


class AuthenStatus(IntEnum):
    """RFC 8907 section 5.2 REPLY ``status`` (FOLLOW is deprecated, section 5.4.3)."""

    PASS = 0x01
    FAIL = 0x02
    GETDATA = 0x03
    GETUSER = 0x04
    GETPASS = 0x05
    RESTART = 0x06
    ERROR = 0x07
    FOLLOW = 0x21


class ReplyFlag(IntFlag):
    """RFC 8907 section 5.2 REPLY ``flags``."""

    NOECHO = 0x01


class ContinueFlag(IntFlag):
    """RFC 8907 section 5.3 CONTINUE ``flags``."""

    ABORT = 0x01


class AuthenMethod(IntEnum):
    """RFC 8907 section 6.1 ``authen_method``."""

    NOT_SET = 0x00
    NONE = 0x01
    KRB5 = 0x02
    LINE = 0x03
    ENABLE = 0x04
    LOCAL = 0x05
    TACACSPLUS = 0x06
    GUEST = 0x08
    RADIUS = 0x10
    KRB4 = 0x11
    RCMD = 0x20


class AuthorStatus(IntEnum):
    """RFC 8907 section 6.2 RESPONSE ``status`` (FOLLOW is deprecated)."""

    PASS_ADD = 0x01
    PASS_REPL = 0x02
    FAIL = 0x10
    ERROR = 0x11
    FOLLOW = 0x21


class AcctFlag(IntFlag):
    """RFC 8907 section 7.1 REQUEST ``flags``."""

    START = 0x02
    STOP = 0x04
    WATCHDOG = 0x08


ACCT_FLAG_MASK = 0x0E
"""RFC 8907 section 7.1: the table is over ``flags & 0xE``."""
VALID_ACCT_FLAGS = frozenset(
    (AcctFlag.START, AcctFlag.STOP, AcctFlag.WATCHDOG, AcctFlag.WATCHDOG | AcctFlag.START)
)
"""RFC 8907 section 7.1 table: start, stop, watchdog without and with update; every other
combination of the three bits is INVALID."""


class AcctStatus(IntEnum):
    """RFC 8907 section 7.2 REPLY ``status`` (FOLLOW is deprecated)."""

    SUCCESS = 0x01
    ERROR = 0x02
    FOLLOW = 0x21
