"""MS-CHAP and MS-CHAPv2 cryptography, and the MPPE keys that RADIUS hands to a NAS.

Pure functions, no I/O, no clock, no randomness: the Authenticator Challenge is a parameter that
the caller draws from its ``token_bytes``.

Sources:
- RFC 2759 section 8 (MS-CHAPv2: NT-Response, Authenticator Response), section 6 (Failure text);
- RFC 2433 Appendix A (MS-CHAPv1: NtChallengeResponse, LmPasswordHash, DesHash);
- RFC 3079 sections 2 and 3 (MPPE keys from MS-CHAP and MS-CHAPv2), RFC 3078 (GetNewKeyFromSHA);
- RFC 2548 (MS-CHAP-Error; MS-CHAP2-Success, section 2.3.3; MPPE key attributes, section 2.4);
- draft-kamath-pppext-eap-mschapv2 and [MS-CHAP] (the EAP-MSCHAPv2 MSK).

Every function whose name says ``_from_hash`` (or takes ``password_hash``) works from the
16-octet NT hash (NtPasswordHash, MD4 of the UTF-16LE password), so a user store can keep only
NT hashes; the cleartext forms are thin wrappers over them. Comparisons of secret-derived values
are constant-time (``hmac.compare_digest``).

Roles (RFC 3079 section 3): the RADIUS server is the *server* side of the PPP link's key
derivation. What it sends as MS-MPPE-Send-Key is the key the NAS encrypts with towards the peer
(``is_send=True, is_server=True``, Magic3); MS-MPPE-Recv-Key is ``is_send=False, is_server=True``
(Magic2). The peer derives the same two keys with the roles swapped.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Final, cast

from Crypto.Cipher import DES
from Crypto.Hash import MD4

from radius.errors import LocalProtocolError

__all__ = [
    "CHALLENGE_LENGTH",
    "MSCHAP_V1_CHALLENGE_LENGTH",
    "MSK_LENGTH",
    "NT_HASH_LENGTH",
    "NT_RESPONSE_LENGTH",
    "challenge_hash",
    "challenge_response",
    "check_authenticator_response",
    "eap_mschapv2_msk",
    "generate_authenticator_response",
    "generate_authenticator_response_from_hash",
    "generate_nt_response",
    "generate_nt_response_from_hash",
    "get_asymmetric_start_key",
    "get_master_key",
    "get_new_key_from_sha",
    "hash_nt_password_hash",
    "lm_password_hash",
    "mppe_keys_v2",
    "ms_chap2_success",
    "ms_chap_error",
    "mschap_v1_mppe_keys",
    "nt_challenge_response",
    "nt_password_hash",
    "user_name_without_domain",
    "verify_nt_challenge_response",
    "verify_nt_response",
]

CHALLENGE_LENGTH = 16
"""RFC 2759 sections 3 and 4: Authenticator Challenge and Peer-Challenge are 16 octets."""
MSCHAP_V1_CHALLENGE_LENGTH = 8
"""RFC 2433 (Challenge packet) and RFC 2759 section 8.2: the 8-octet challenge that DES encrypts."""
NT_HASH_LENGTH = 16
"""RFC 2759 section 8.3: NtPasswordHash is MD4, 16 octets."""
NT_RESPONSE_LENGTH = 24
"""RFC 2759 section 8.5: three DES blocks."""
MASTER_KEY_LENGTH = 16
"""RFC 3079 section 3.4: GetMasterKey keeps the first 16 octets of a SHA-1 digest."""
MSK_LENGTH = 64
"""RFC 3748 section 7.10: an MSK is at least 64 octets."""
_MAX_VSA_STRING = 247
"""RFC 2865 section 5.26 / RFC 2548: 253 value octets, less Vendor-Id (4), type and length (2)."""

# RFC 2759 section 8.7.
_MAGIC_SERVER_TO_CLIENT = b"Magic server to client signing constant"
_MAGIC_PAD = b"Pad to make it do more than one iteration"
# RFC 3079 section 3.4 (Magic1, Magic2, Magic3).
_MAGIC_MASTER_KEY = b"This is the MPPE Master Key"
_MAGIC_CLIENT_SEND = (
    b"On the client side, this is the send key; on the server side, it is the receive key."
)
_MAGIC_CLIENT_RECEIVE = (
    b"On the client side, this is the receive key; on the server side, it is the send key."
)
_SHS_PAD1 = bytes(40)
_SHS_PAD2 = b"\xf2" * 40
# RFC 2433 Appendix A (DesHash): the LAN Manager magic plaintext.
_LM_MAGIC = b"KGS!@#$%"


def _require(name: str, value: bytes, length: int) -> None:
    if len(value) != length:
        raise LocalProtocolError(f"{name} must be {length} octets, got {len(value)}")


def _sha1(*parts: bytes) -> bytes:
    h = hashlib.sha1()  # noqa: S324 - SHA-1 is what RFC 2759 and RFC 3079 specify
    for part in parts:
        h.update(part)
    return h.digest()


def _md4(data: bytes) -> bytes:
    return MD4.new(data).digest()  # noqa: S303 - MD4 is what RFC 2759 and RFC 2433 specify


# The octet for each 7-bit key piece: the piece in the high bits, the low bit making the
# count of ones odd.
_ODD_PARITY: Final = bytes((v << 1) | (bin(v).count("1") % 2 == 0) for v in range(128))
_KEY_SHIFTS: Final = (49, 42, 35, 28, 21, 14, 7, 0)


def _des_key(key7: bytes) -> bytes:
    """Spread 56 key bits over 8 octets, 7 bits each, low bit set for odd parity.

    RFC 2759 section 8.6 (DesEncrypt) and RFC 2433 Appendix A: DES wants a 64-bit key whose
    8th, 16th, ... bits are parity bits, so each 7-octet key piece is expanded.
    """
    bits = int.from_bytes(key7, "big")
    return bytes(_ODD_PARITY[(bits >> shift) & 0x7F] for shift in _KEY_SHIFTS)


# Key schedules by 7-octet key: a user's NT hash gives the same three keys on every
# authentication, and making a DES object is most of DesEncrypt's cost. ECB objects keep no
# state between blocks, so one serves every call. Bounded; the oldest go first.
_DES_CIPHERS: dict[bytes, Any] = {}
_DES_CIPHERS_MAX: Final = 6144


def _des_encrypt(clear8: bytes, key7: bytes) -> bytes:
    """DesEncrypt (RFC 2759 section 8.6): DES-ECB of one 8-octet block under a 7-octet key."""
    cipher = _DES_CIPHERS.get(key7)
    if cipher is None:
        cipher = DES.new(_des_key(key7), DES.MODE_ECB)  # noqa: S304 - RFC 2759 section 8.6
        if len(_DES_CIPHERS) >= _DES_CIPHERS_MAX:
            del _DES_CIPHERS[next(iter(_DES_CIPHERS))]
        _DES_CIPHERS[bytes(key7)] = cipher
    return cast(bytes, cipher.encrypt(clear8))


# --------------------------------------------------------------------------- RFC 2759 (v2)


def user_name_without_domain(username: bytes) -> bytes:
    """The account name that enters ChallengeHash (RFC 2759 sections 4 and 8.2).

    "BIGCO\\johndoe" -> "johndoe": everything up to and including the first backslash is the
    Windows NT domain and is left out; a name without a backslash is returned unchanged.
    """
    _domain, sep, user = username.partition(b"\\")
    return user if sep else username


def nt_password_hash(password: str) -> bytes:
    """NtPasswordHash (RFC 2759 section 8.3; RFC 2433 Appendix A).

    MD4 of the password as UTF-16LE ("Unicode"), without any terminating NUL.
    """
    return _md4(password.encode("utf-16-le"))


def hash_nt_password_hash(password_hash: bytes) -> bytes:
    """HashNtPasswordHash (RFC 2759 section 8.4): MD4 of the 16-octet NT hash."""
    _require("password_hash", password_hash, NT_HASH_LENGTH)
    return _md4(password_hash)


def challenge_hash(peer_challenge: bytes, authenticator_challenge: bytes, username: bytes) -> bytes:
    """ChallengeHash (RFC 2759 section 8.2): the 8-octet challenge the NT-Response encrypts.

    SHA-1(PeerChallenge + AuthenticatorChallenge + UserName)[:8]. As the RFC says, only the user
    name "excluding any prepended domain name" is hashed: the domain is stripped here
    (``user_name_without_domain``), so pass the name as the peer presented it.
    """
    _require("peer_challenge", peer_challenge, CHALLENGE_LENGTH)
    _require("authenticator_challenge", authenticator_challenge, CHALLENGE_LENGTH)
    return _sha1(peer_challenge, authenticator_challenge, user_name_without_domain(username))[:8]


def challenge_response(challenge: bytes, password_hash: bytes) -> bytes:
    """ChallengeResponse (RFC 2759 section 8.5; RFC 2433 Appendix A).

    The NT hash is zero-padded to 21 octets and cut into three 7-octet DES keys, each of which
    encrypts the 8-octet ``challenge``: 24 octets in all.
    """
    _require("challenge", challenge, MSCHAP_V1_CHALLENGE_LENGTH)
    _require("password_hash", password_hash, NT_HASH_LENGTH)
    z = password_hash + bytes(5)
    return b"".join(_des_encrypt(challenge, z[i : i + 7]) for i in (0, 7, 14))


def generate_nt_response_from_hash(
    authenticator_challenge: bytes, peer_challenge: bytes, username: bytes, password_hash: bytes
) -> bytes:
    """GenerateNTResponse (RFC 2759 section 8.1), from the NT hash instead of the password."""
    challenge = challenge_hash(peer_challenge, authenticator_challenge, username)
    return challenge_response(challenge, password_hash)


def generate_nt_response(
    authenticator_challenge: bytes, peer_challenge: bytes, username: bytes, password: str
) -> bytes:
    """GenerateNTResponse (RFC 2759 section 8.1): the 24-octet NT-Response of MS-CHAPv2."""
    return generate_nt_response_from_hash(
        authenticator_challenge, peer_challenge, username, nt_password_hash(password)
    )


def verify_nt_response(
    nt_response: bytes,
    authenticator_challenge: bytes,
    peer_challenge: bytes,
    username: bytes,
    *,
    password_hash: bytes,
) -> bool:
    """Check a peer's MS-CHAPv2 NT-Response (RFC 2759 sections 4 and 8.1), in constant time.

    ``nt_response`` and ``peer_challenge`` come from the peer's Response (MS-CHAP2-Response,
    RFC 2548): wrong lengths there are a failed authentication (``False``), not
    an error. ``authenticator_challenge`` and ``password_hash`` are ours and must be well formed.
    For a cleartext store pass ``password_hash=nt_password_hash(password)``.
    """
    _require("authenticator_challenge", authenticator_challenge, CHALLENGE_LENGTH)
    _require("password_hash", password_hash, NT_HASH_LENGTH)
    if len(nt_response) != NT_RESPONSE_LENGTH or len(peer_challenge) != CHALLENGE_LENGTH:
        return False
    expected = generate_nt_response_from_hash(
        authenticator_challenge, peer_challenge, username, password_hash
    )
    return hmac.compare_digest(expected, nt_response)


def generate_authenticator_response_from_hash(
    password_hash: bytes,
    nt_response: bytes,
    peer_challenge: bytes,
    authenticator_challenge: bytes,
    username: bytes,
) -> str:
    """GenerateAuthenticatorResponse (RFC 2759 section 8.7), from the NT hash.

    Digest = SHA-1(PasswordHashHash + NT-Response + Magic1);
    Digest = SHA-1(Digest + ChallengeHash(...) + Magic2); returns "S=" + 40 uppercase hex digits
    (RFC 2759 section 5: "The hexadecimal digits A-F (if present) MUST be uppercase").
    """
    _require("nt_response", nt_response, NT_RESPONSE_LENGTH)
    password_hash_hash = hash_nt_password_hash(password_hash)
    digest = _sha1(password_hash_hash, nt_response, _MAGIC_SERVER_TO_CLIENT)
    challenge = challenge_hash(peer_challenge, authenticator_challenge, username)
    digest = _sha1(digest, challenge, _MAGIC_PAD)
    return "S=" + digest.hex().upper()


def generate_authenticator_response(
    password: str,
    nt_response: bytes,
    peer_challenge: bytes,
    authenticator_challenge: bytes,
    username: bytes,
) -> str:
    """GenerateAuthenticatorResponse (RFC 2759 section 8.7): the "S=<40 hex>" of Success."""
    return generate_authenticator_response_from_hash(
        nt_password_hash(password), nt_response, peer_challenge, authenticator_challenge, username
    )


def check_authenticator_response(
    received: str | bytes,
    nt_response: bytes,
    peer_challenge: bytes,
    authenticator_challenge: bytes,
    username: bytes,
    *,
    password_hash: bytes,
) -> bool:
    """CheckAuthenticatorResponse (RFC 2759 section 8.8): the peer's check of "S=...".

    What a client (an interop test, a probe) does with the server's Success message. Only the
    first 42 characters count; anything after them (" M=...") is ignored. Constant-time compare.
    """
    text = received.encode("ascii", "replace") if isinstance(received, str) else received
    expected = generate_authenticator_response_from_hash(
        password_hash, nt_response, peer_challenge, authenticator_challenge, username
    ).encode("ascii")
    return hmac.compare_digest(expected, text[:42])


# --------------------------------------------------------------------------- RFC 2433 (v1)


def nt_challenge_response(challenge: bytes, password: str) -> bytes:
    """NtChallengeResponse (RFC 2433 Appendix A): the MS-CHAPv1 NT-Response (24 octets).

    ChallengeResponse(Challenge, NtPasswordHash(Password)); with only the NT hash at hand call
    ``challenge_response(challenge, password_hash)`` directly.
    """
    return challenge_response(challenge, nt_password_hash(password))


def verify_nt_challenge_response(
    nt_response: bytes, challenge: bytes, *, password_hash: bytes
) -> bool:
    """Check an MS-CHAPv1 NT-Response (RFC 2433 Response packet, Appendix A), in constant time.

    ``challenge`` is the 8-octet MS-CHAP-Challenge we sent; a response of the wrong length (the
    peer's doing) is ``False``.
    """
    _require("challenge", challenge, MSCHAP_V1_CHALLENGE_LENGTH)
    _require("password_hash", password_hash, NT_HASH_LENGTH)
    if len(nt_response) != NT_RESPONSE_LENGTH:
        return False
    return hmac.compare_digest(challenge_response(challenge, password_hash), nt_response)


def lm_password_hash(password: str) -> bytes:
    """LmPasswordHash and DesHash (RFC 2433 Appendix A): the LAN Manager hash, 16 octets.

    The password is upper-cased in the OEM character set, padded or cut to 14 octets, and each
    7-octet half DES-encrypts "KGS!@#$%". Only ASCII passwords are accepted here (the OEM code
    page is a property of the Windows host; for ASCII it does not matter). LM is weak; it only
    survives to fill the LM-Key of MS-CHAP-MPPE-Keys for old NASes.
    """
    if not password.isascii():
        raise LocalProtocolError("LmPasswordHash is only defined here for ASCII passwords")
    oem = password.upper().encode("ascii")[:14].ljust(14, b"\0")
    return _des_encrypt(_LM_MAGIC, oem[:7]) + _des_encrypt(_LM_MAGIC, oem[7:])


def mschap_v1_mppe_keys(password_hash: bytes, lm_hash: bytes | None = None) -> bytes:
    """Plaintext of MS-CHAP-MPPE-Keys for an MS-CHAPv1 Access-Accept (RFC 2548 section 2.4.1).

    LM-Key (8 octets: the first 8 of LmPasswordHash, zeros when no LM hash is kept) followed by
    NT-Key (16 octets). The NT-Key is NtPasswordHashHash: the key RFC 3079 section 2 derives
    MS-CHAPv1's 128-bit MPPE keys from, and what Windows IAS and FreeRADIUS send (FreeRADIUS's
    rlm_mschap notes that the NT hash itself, one reading of RFC 2548, does not work). Returns
    24 octets; the 8 zero octets of padding and the RFC 2548 2.4.1 encryption belong to the
    attribute encoder.
    """
    lm_key = bytes(8)
    if lm_hash is not None:
        _require("lm_hash", lm_hash, 16)
        lm_key = lm_hash[:8]
    return lm_key + hash_nt_password_hash(password_hash)


# --------------------------------------------------------------------------- RFC 3079 (MPPE)


def get_master_key(password_hash_hash: bytes, nt_response: bytes) -> bytes:
    """GetMasterKey (RFC 3079 section 3.4): SHA-1(PasswordHashHash + NT-Response + Magic1)[:16]."""
    _require("password_hash_hash", password_hash_hash, NT_HASH_LENGTH)
    _require("nt_response", nt_response, NT_RESPONSE_LENGTH)
    return _sha1(password_hash_hash, nt_response, _MAGIC_MASTER_KEY)[:MASTER_KEY_LENGTH]


def get_asymmetric_start_key(
    master_key: bytes, key_length: int, is_send: bool, is_server: bool
) -> bytes:
    """GetAsymetricStartKey (RFC 3079 section 3.4; the RFC spells it with one "m").

    SHA-1(MasterKey + SHSpad1 + Magic + SHSpad2)[:key_length], where Magic is Magic2 for the
    client's send key (= the server's receive key) and Magic3 for the client's receive key
    (= the server's send key). ``key_length`` is 8 (40- and 56-bit MPPE) or 16 (128-bit).
    """
    _require("master_key", master_key, MASTER_KEY_LENGTH)
    if key_length not in (8, 16):
        raise LocalProtocolError(f"MPPE key length must be 8 or 16 octets, got {key_length}")
    client_send = is_send != is_server
    magic = _MAGIC_CLIENT_SEND if client_send else _MAGIC_CLIENT_RECEIVE
    return _sha1(master_key, _SHS_PAD1, magic, _SHS_PAD2)[:key_length]


def get_new_key_from_sha(start_key: bytes, session_key: bytes, key_length: int) -> bytes:
    """GetNewKeyFromSHA (RFC 3078; RFC 3079 section 3 uses it for the initial session key).

    SHA-1(StartKey + SHApad1 + SessionKey + SHApad2)[:key_length]. A RADIUS server does not need
    it (the NAS derives session keys); it is here so the RFC 3079 3.5 samples can be checked.
    """
    if key_length not in (8, 16):
        raise LocalProtocolError(f"MPPE key length must be 8 or 16 octets, got {key_length}")
    _require("start_key", start_key, key_length)
    _require("session_key", session_key, key_length)
    return _sha1(start_key, _SHS_PAD1, session_key, _SHS_PAD2)[:key_length]


def _master_key_from_hash(password_hash: bytes, nt_response: bytes) -> bytes:
    return get_master_key(hash_nt_password_hash(password_hash), nt_response)


def mppe_keys_v2(
    password_hash: bytes, nt_response: bytes, key_length: int = 16
) -> tuple[bytes, bytes]:
    """(MS-MPPE-Send-Key, MS-MPPE-Recv-Key) for an MS-CHAPv2 Access-Accept (RFC 2548 2.4.2,
    2.4.3; RFC 3079 section 3), from the RADIUS server's point of view.

    Send = GetAsymetricStartKey(MasterKey, n, IsSend=TRUE, IsServer=TRUE) (Magic3);
    Recv = GetAsymetricStartKey(MasterKey, n, IsSend=FALSE, IsServer=TRUE) (Magic2). These are
    the plaintext keys; the attribute encoder adds the key-length octet, padding and the RFC 2548
    salt encryption (``radius.crypto.salt_encrypt``).
    """
    master_key = _master_key_from_hash(password_hash, nt_response)
    send_key = get_asymmetric_start_key(master_key, key_length, is_send=True, is_server=True)
    recv_key = get_asymmetric_start_key(master_key, key_length, is_send=False, is_server=True)
    return send_key, recv_key


def eap_mschapv2_msk(password_hash: bytes, nt_response: bytes) -> bytes:
    """The 64-octet MSK of EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2; [MS-CHAP]).

    MSK = MasterReceiveKey (16) + MasterSendKey (16) + 32 zero octets, named from the
    authenticator's side: the server's MS-MPPE-Recv-Key first, then its MS-MPPE-Send-Key, i.e.
    ``recv + send`` of ``mppe_keys_v2`` (the same octets are the peer's Send-Key + Recv-Key).
    This is the order of hostapd's eap_server_mschapv2.c getKey ("MSK = server MS-MPPE-Recv-Key
    | MS-MPPE-Send-Key", start keys with (is_send=0, is_server=1) then (1, 1)), of
    wpa_supplicant's peer getKey ((1, 0) then (0, 0)), and of Microsoft's [MS-CHAP], which adds
    the 32 zero octets to reach RFC 3748's 64. hostapd returns only the first 32 octets; the
    zeros make no difference to users of the first 32 (PEAP's ISK), and RFC 3748 wants 64.
    """
    send_key, recv_key = mppe_keys_v2(password_hash, nt_response, 16)
    return recv_key + send_key + bytes(MSK_LENGTH - 32)


# --------------------------------------------------------------------------- attribute values


def ms_chap2_success(ident: int, authenticator_response: str) -> bytes:
    """MS-CHAP2-Success value (RFC 2548 section 2.3.3): Ident octet + "S=<40 hex>".

    ``ident`` is the Ident of the peer's MS-CHAP2-Response; ``authenticator_response`` the
    output of ``generate_authenticator_response``.
    """
    if not 0 <= ident <= 255:
        raise LocalProtocolError(f"Ident must be one octet, got {ident}")
    text = authenticator_response.encode("ascii", "replace")
    if (
        len(text) != 42
        or not text.startswith(b"S=")
        or any(c not in b"0123456789ABCDEF" for c in text[2:])
    ):
        raise LocalProtocolError('authenticator_response must be "S=" and 40 uppercase hex digits')
    return bytes([ident]) + text


def ms_chap_error(
    ident: int,
    *,
    error: int = 691,
    retry: bool = False,
    challenge: bytes = b"",
    version: int = 3,
    message: str = "",
) -> bytes:
    """MS-CHAP-Error value (RFC 2548): Ident octet + the Failure packet text.

    The text is "E=eeeeeeeeee R=r C=cccc... V=vvvvvvvvvv M=<msg>" (RFC 2759 section 6): E a
    decimal error code (691 ERROR_AUTHENTICATION_FAILURE, 646-649, 709), R "1" if a retry is
    allowed, C the new challenge in hex (16 octets, 32 digits, for MS-CHAPv2; 8 octets for
    MS-CHAPv1, whose Failure packet (RFC 2433) has V=2), V the version.
    With ``retry=False`` and no challenge, C is sent as 32 zeros (a challenge is only used for a
    retry), as hostapd does.
    """
    if not 0 <= ident <= 255:
        raise LocalProtocolError(f"Ident must be one octet, got {ident}")
    if error < 0 or version < 0:
        raise LocalProtocolError("error and version must be non-negative")
    if retry and not challenge:
        raise LocalProtocolError("a retry needs a new challenge (RFC 2759 section 6)")
    if challenge and len(challenge) not in (MSCHAP_V1_CHALLENGE_LENGTH, CHALLENGE_LENGTH):
        raise LocalProtocolError("the Failure challenge is 8 (MS-CHAPv1) or 16 octets")
    c = (challenge or bytes(CHALLENGE_LENGTH)).hex().upper()
    text = f"E={error} R={int(retry)} C={c} V={version} M={message}".encode()
    value = bytes([ident]) + text
    if len(value) > _MAX_VSA_STRING:
        raise LocalProtocolError(f"MS-CHAP-Error value of {len(value)} octets does not fit")
    return value
