from __future__ import annotations

from pathlib import Path

import pytest
from Crypto.Cipher import ARC4
from hypothesis import given
from hypothesis import strategies as st

from radius import mschap
from radius.errors import LocalProtocolError
from radius.mschap import (
    challenge_hash,
    challenge_response,
    check_authenticator_response,
    eap_mschapv2_msk,
    generate_authenticator_response,
    generate_authenticator_response_from_hash,
    generate_nt_response,
    generate_nt_response_from_hash,
    get_asymmetric_start_key,
    get_master_key,
    get_new_key_from_sha,
    hash_nt_password_hash,
    lm_password_hash,
    mppe_keys_v2,
    ms_chap2_success,
    ms_chap_error,
    mschap_v1_mppe_keys,
    nt_challenge_response,
    nt_password_hash,
    user_name_without_domain,
    verify_nt_challenge_response,
    verify_nt_response,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def load_named_vectors(name: str) -> dict[str, bytes]:
    """Read a ``name = hex`` vector file; ``"text"`` values are ASCII; ``#`` lines are comments."""
    out: dict[str, bytes] = {}
    for raw in (VECTORS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        assert sep, f"{name}: not a 'name = value' line: {raw!r}"
        assert key not in out, f"{name}: {key} twice"
        if value.startswith('"'):
            assert value.endswith('"') and len(value) >= 2, raw
            out[key] = value[1:-1].encode("ascii")
        else:
            out[key] = bytes.fromhex(value)
    return out


@pytest.fixture(scope="module")
def v2() -> dict[str, bytes]:
    return load_named_vectors("rfc2759_9_2.txt")


@pytest.fixture(scope="module")
def mppe() -> dict[str, bytes]:
    return load_named_vectors("rfc3079_3_5_3.txt")


@pytest.fixture(scope="module")
def v1() -> dict[str, bytes]:
    return load_named_vectors("rfc2433_b_2.txt")


def _password(v: dict[str, bytes]) -> str:
    return v["Password"].decode("utf-16-le")


# ----------------------------------------------------------------------------- RFC 2759 9.2


def test_rfc2759_9_2_inputs_are_what_the_rfc_names(v2: dict[str, bytes]) -> None:
    assert v2["UserName"] == b"User"
    assert _password(v2) == "clientPass"
    assert "clientPass".encode("utf-16-le") == v2["Password"]


def test_rfc2759_9_2_every_step(v2: dict[str, bytes]) -> None:
    password = _password(v2)
    ac, pc, user = v2["AuthenticatorChallenge"], v2["PeerChallenge"], v2["UserName"]

    assert challenge_hash(pc, ac, user) == v2["Challenge"]
    assert nt_password_hash(password) == v2["PasswordHash"]
    assert hash_nt_password_hash(v2["PasswordHash"]) == v2["PasswordHashHash"]
    assert challenge_response(v2["Challenge"], v2["PasswordHash"]) == v2["NT-Response"]
    assert generate_nt_response(ac, pc, user, password) == v2["NT-Response"]
    assert generate_nt_response_from_hash(ac, pc, user, v2["PasswordHash"]) == v2["NT-Response"]

    expected = v2["AuthenticatorResponse"].decode("ascii")
    nt = v2["NT-Response"]
    assert generate_authenticator_response(password, nt, pc, ac, user) == expected
    got = generate_authenticator_response_from_hash(v2["PasswordHash"], nt, pc, ac, user)
    assert got == expected


def test_rfc2759_9_2_verify_and_peer_check(v2: dict[str, bytes]) -> None:
    ac, pc, user, nt = (
        v2["AuthenticatorChallenge"],
        v2["PeerChallenge"],
        v2["UserName"],
        v2["NT-Response"],
    )
    ph = v2["PasswordHash"]
    assert verify_nt_response(nt, ac, pc, user, password_hash=ph)
    assert not verify_nt_response(nt, ac, pc, user, password_hash=nt_password_hash("clientpass"))
    assert not verify_nt_response(nt, ac, pc, b"Other", password_hash=ph)
    assert not verify_nt_response(nt, pc, ac, user, password_hash=ph)  # challenges swapped

    success = v2["AuthenticatorResponse"]
    assert check_authenticator_response(success, nt, pc, ac, user, password_hash=ph)
    with_message = success.decode() + " M=Welcome"
    assert check_authenticator_response(with_message, nt, pc, ac, user, password_hash=ph)
    assert not check_authenticator_response(success.lower(), nt, pc, ac, user, password_hash=ph)
    assert not check_authenticator_response("S=", nt, pc, ac, user, password_hash=ph)


def test_domain_prefix_is_left_out_of_the_challenge_hash(v2: dict[str, bytes]) -> None:
    """RFC 2759 sections 4 and 8.2: "BIGCO\\johndoe" hashes as "johndoe"."""
    ac, pc = v2["AuthenticatorChallenge"], v2["PeerChallenge"]
    assert challenge_hash(pc, ac, b"BIGCO\\User") == v2["Challenge"]
    nt = generate_nt_response(ac, pc, b"BIGCO\\User", "clientPass")
    assert nt == v2["NT-Response"]
    assert verify_nt_response(nt, ac, pc, b"BIGCO\\User", password_hash=v2["PasswordHash"])
    got = generate_authenticator_response("clientPass", nt, pc, ac, b"BIGCO\\User")
    assert got.encode() == v2["AuthenticatorResponse"]


@pytest.mark.parametrize(
    ("name", "user"),
    [
        (b"User", b"User"),
        (b"BIGCO\\johndoe", b"johndoe"),
        (b"\\johndoe", b"johndoe"),
        (b"BIGCO\\", b""),
        (b"A\\B\\c", b"B\\c"),
        (b"", b""),
        (b"user@example.com", b"user@example.com"),
    ],
)
def test_user_name_without_domain(name: bytes, user: bytes) -> None:
    assert user_name_without_domain(name) == user


@given(st.binary(max_size=64).filter(lambda b: b"\\" not in b), st.binary(max_size=16))
def test_domain_stripping_property(user: bytes, domain: bytes) -> None:
    pc, ac = bytes(range(16)), bytes(range(16, 32))
    qualified = domain.replace(b"\\", b"") + b"\\" + user
    assert challenge_hash(pc, ac, qualified) == challenge_hash(pc, ac, user)


@given(
    password=st.text(max_size=40),
    username=st.binary(max_size=64),
    ac=st.binary(min_size=16, max_size=16),
    pc=st.binary(min_size=16, max_size=16),
    bit=st.integers(min_value=0, max_value=24 * 8 - 1),
)
def test_verify_accepts_the_response_and_rejects_any_flipped_bit(
    password: str, username: bytes, ac: bytes, pc: bytes, bit: int
) -> None:
    ph = nt_password_hash(password)
    nt = generate_nt_response(ac, pc, username, password)
    assert verify_nt_response(nt, ac, pc, username, password_hash=ph)
    flipped = bytearray(nt)
    flipped[bit // 8] ^= 1 << (bit % 8)
    assert not verify_nt_response(bytes(flipped), ac, pc, username, password_hash=ph)


def test_verify_treats_malformed_peer_fields_as_failure(v2: dict[str, bytes]) -> None:
    ac, pc, user, nt, ph = (
        v2["AuthenticatorChallenge"],
        v2["PeerChallenge"],
        v2["UserName"],
        v2["NT-Response"],
        v2["PasswordHash"],
    )
    assert not verify_nt_response(nt[:23], ac, pc, user, password_hash=ph)
    assert not verify_nt_response(nt + b"\0", ac, pc, user, password_hash=ph)
    assert not verify_nt_response(b"", ac, pc, user, password_hash=ph)
    assert not verify_nt_response(nt, ac, pc[:15], user, password_hash=ph)
    # our own inputs must be well formed: a wrong length there is a bug, said loudly
    with pytest.raises(LocalProtocolError):
        verify_nt_response(nt, ac[:8], pc, user, password_hash=ph)
    with pytest.raises(LocalProtocolError):
        verify_nt_response(nt, ac, pc, user, password_hash=ph[:15])


@pytest.mark.parametrize(
    "call",
    [
        lambda: challenge_hash(bytes(15), bytes(16), b"u"),
        lambda: challenge_hash(bytes(16), bytes(17), b"u"),
        lambda: challenge_response(bytes(16), bytes(16)),
        lambda: challenge_response(bytes(8), bytes(20)),
        lambda: hash_nt_password_hash(bytes(8)),
        lambda: get_master_key(bytes(16), bytes(23)),
        lambda: get_master_key(bytes(15), bytes(24)),
        lambda: get_asymmetric_start_key(bytes(16), 20, True, True),
        lambda: get_asymmetric_start_key(bytes(8), 16, True, True),
        lambda: get_new_key_from_sha(bytes(16), bytes(8), 16),
        lambda: get_new_key_from_sha(bytes(5), bytes(5), 5),
        lambda: generate_authenticator_response("p", bytes(16), bytes(16), bytes(16), b"u"),
        lambda: mppe_keys_v2(bytes(16), bytes(24), key_length=32),
        lambda: mschap_v1_mppe_keys(bytes(16), lm_hash=bytes(8)),
        lambda: verify_nt_challenge_response(bytes(24), bytes(16), password_hash=bytes(16)),
    ],
)
def test_wrong_lengths_of_our_inputs_raise(call: object) -> None:
    assert callable(call)
    with pytest.raises(LocalProtocolError):
        call()


def test_des_key_expansion_sets_odd_parity() -> None:
    """RFC 2759 8.6 / RFC 2433 A.6: 7 key octets become 8, 7 bits each plus a parity bit."""
    assert mschap._des_key(bytes(7)) == b"\x01" * 8
    assert mschap._des_key(b"\xff" * 7) == b"\xfe" * 8
    for key7 in (bytes.fromhex("44EBBA8D5312B8"), bytes.fromhex("d611474411f569"), b"\x80" * 7):
        key8 = mschap._des_key(key7)
        assert all(bin(b).count("1") % 2 == 1 for b in key8)
        # dropping the parity bits gives the 56 key bits back
        bits = "".join(f"{b >> 1:07b}" for b in key8)
        assert int(bits, 2).to_bytes(7, "big") == key7


# ----------------------------------------------------------------------------- RFC 3079 3.5.3


def test_rfc3079_3_5_3_inputs_match_rfc2759(mppe: dict[str, bytes], v2: dict[str, bytes]) -> None:
    for key in (
        "UserName",
        "Password",
        "AuthenticatorChallenge",
        "PeerChallenge",
        "NT-Response",
        "PasswordHash",
        "PasswordHashHash",
    ):
        assert mppe[key] == v2[key], key
    nt = generate_nt_response(
        mppe["AuthenticatorChallenge"], mppe["PeerChallenge"], mppe["UserName"], _password(mppe)
    )
    assert nt == mppe["NT-Response"]


def test_rfc3079_3_5_3_every_step(mppe: dict[str, bytes]) -> None:
    assert nt_password_hash(_password(mppe)) == mppe["PasswordHash"]
    assert hash_nt_password_hash(mppe["PasswordHash"]) == mppe["PasswordHashHash"]
    master = get_master_key(mppe["PasswordHashHash"], mppe["NT-Response"])
    assert master == mppe["MasterKey"]
    start = get_asymmetric_start_key(master, 16, is_send=True, is_server=True)
    assert start == mppe["SendStartKey128"]
    session = get_new_key_from_sha(start, start, 16)
    assert session == mppe["SendSessionKey128"]
    encrypted = ARC4.new(session).encrypt(mppe["SampleMessage"])
    assert encrypted == mppe["SampleEncryptedMessage"]


def test_asymmetric_keys_pair_up_between_client_and_server(mppe: dict[str, bytes]) -> None:
    """RFC 3079 3.4: the server's send key is the client's receive key, and vice versa."""
    mk = mppe["MasterKey"]
    server_send = get_asymmetric_start_key(mk, 16, is_send=True, is_server=True)
    server_recv = get_asymmetric_start_key(mk, 16, is_send=False, is_server=True)
    client_send = get_asymmetric_start_key(mk, 16, is_send=True, is_server=False)
    client_recv = get_asymmetric_start_key(mk, 16, is_send=False, is_server=False)
    assert client_recv == server_send == mppe["SendStartKey128"]
    assert client_send == server_recv
    assert server_send != server_recv
    # 40/56-bit keys are the first 8 octets of the same digest (RFC 3079 3.5.1/3.5.2)
    assert get_asymmetric_start_key(mk, 8, is_send=True, is_server=True) == server_send[:8]


def test_mppe_keys_v2_are_the_servers_send_and_recv(mppe: dict[str, bytes]) -> None:
    send, recv = mppe_keys_v2(mppe["PasswordHash"], mppe["NT-Response"])
    assert send == mppe["SendStartKey128"]
    assert recv == get_asymmetric_start_key(mppe["MasterKey"], 16, is_send=False, is_server=True)
    send8, recv8 = mppe_keys_v2(mppe["PasswordHash"], mppe["NT-Response"], key_length=8)
    assert (send8, recv8) == (send[:8], recv[:8])


def test_eap_mschapv2_msk_is_recv_then_send_then_zeros(mppe: dict[str, bytes]) -> None:
    """MSK = server MS-MPPE-Recv-Key | MS-MPPE-Send-Key | 32 zeros (hostapd, [MS-CHAP])."""
    msk = eap_mschapv2_msk(mppe["PasswordHash"], mppe["NT-Response"])
    send, recv = mppe_keys_v2(mppe["PasswordHash"], mppe["NT-Response"])
    assert len(msk) == 64
    assert msk[:16] == recv
    assert msk[16:32] == send == mppe["SendStartKey128"]
    assert msk[32:] == bytes(32)
    # Not an RFC value: the server's receive start key (Magic2) for the RFC 3079 sample, as other
    # implementations' EAP-MSCHAPv2 tests also compute it (e.g. AOSP's EapMsChapV2 tests).
    assert recv == bytes.fromhex("D5F0E9521E3EA9589645E86051C82226")
    # The peer's view of the same MSK: its Send-Key then its Recv-Key.
    mk = mppe["MasterKey"]
    peer = get_asymmetric_start_key(mk, 16, True, False) + get_asymmetric_start_key(
        mk, 16, False, False
    )
    assert msk[:32] == peer


# ----------------------------------------------------------------------------- RFC 2433 (v1)


def test_rfc2433_b_2_nt_response(v1: dict[str, bytes]) -> None:
    password = _password(v1)
    assert password == "MyPw"
    assert nt_password_hash(password) == v1["PasswordHash"]
    assert nt_challenge_response(v1["Challenge"], password) == v1["NT-Response"]
    assert challenge_response(v1["Challenge"], v1["PasswordHash"]) == v1["NT-Response"]
    ph = v1["PasswordHash"]
    assert verify_nt_challenge_response(v1["NT-Response"], v1["Challenge"], password_hash=ph)
    assert not verify_nt_challenge_response(
        v1["NT-Response"][:-1], v1["Challenge"], password_hash=ph
    )
    wrong = nt_password_hash("mypw")
    assert not verify_nt_challenge_response(v1["NT-Response"], v1["Challenge"], password_hash=wrong)


def test_lm_password_hash() -> None:
    # Not RFC values: the empty-password LM hash is the well-known AAD3B435B51404EE twice, and
    # "MyPw" (RFC 2433 B.2's password) as PEAR Crypt_CHAP's test suite expects it.
    assert lm_password_hash("") == bytes.fromhex("AAD3B435B51404EEAAD3B435B51404EE")
    assert lm_password_hash("MyPw") == bytes.fromhex("75BA30198E6D1975AAD3B435B51404EE")
    assert lm_password_hash("mypw") == lm_password_hash("MYPW")  # case-insensitive
    assert lm_password_hash("a" * 14) == lm_password_hash("a" * 20)  # 14 octets at most
    with pytest.raises(LocalProtocolError):
        lm_password_hash("pässword")


def test_mschap_v1_mppe_keys_layout(v1: dict[str, bytes]) -> None:
    ph = v1["PasswordHash"]
    keys = mschap_v1_mppe_keys(ph)
    assert keys == bytes(8) + hash_nt_password_hash(ph)
    lm = lm_password_hash("MyPw")
    assert mschap_v1_mppe_keys(ph, lm_hash=lm) == lm[:8] + hash_nt_password_hash(ph)


# ----------------------------------------------------------------------------- attribute values


def test_ms_chap2_success(v2: dict[str, bytes]) -> None:
    auth = v2["AuthenticatorResponse"].decode()
    assert ms_chap2_success(7, auth) == b"\x07" + v2["AuthenticatorResponse"]
    assert len(ms_chap2_success(255, auth)) == 43
    for bad in (
        auth.lower(),
        auth[:-1],
        "X" + auth[1:],
        auth[:2] + "G" + auth[3:],
        auth[:-1] + "é",
        auth + " ",
    ):
        with pytest.raises(LocalProtocolError):
            ms_chap2_success(7, bad)
    with pytest.raises(LocalProtocolError):
        ms_chap2_success(256, auth)


def test_ms_chap_error_format() -> None:
    assert ms_chap_error(3) == b"\x03E=691 R=0 C=" + b"0" * 32 + b" V=3 M="
    challenge = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
    got = ms_chap_error(9, error=648, retry=True, challenge=challenge, message="expired")
    assert got == b"\x09E=648 R=1 C=5B5D7C7D7B3F2F3E3C2C602132262628 V=3 M=expired"
    v1 = ms_chap_error(1, challenge=bytes.fromhex("102DB5DF085D3041"), version=2)
    assert v1 == b"\x01E=691 R=0 C=102DB5DF085D3041 V=2 M="


@pytest.mark.parametrize(
    "kwargs",
    [
        {"retry": True},
        {"challenge": bytes(10)},
        {"error": -1},
        {"message": "x" * 300},
    ],
)
def test_ms_chap_error_refuses_what_it_cannot_send(kwargs: dict[str, object]) -> None:
    with pytest.raises(LocalProtocolError):
        ms_chap_error(1, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        ms_chap_error(-1)


def _des_key_reference(key7: bytes) -> bytes:
    # RFC 2759 8.6 spelled out bit by bit: 7 key bits per octet, then odd parity
    bits = "".join(f"{b:08b}" for b in key7)
    out = bytearray()
    for i in range(8):
        seven = bits[7 * i : 7 * i + 7]
        parity = "0" if seven.count("1") % 2 else "1"
        out.append(int(seven + parity, 2))
    return bytes(out)


@given(st.binary(min_size=7, max_size=7))
def test_des_key_expansion_matches_the_rfc(key7: bytes) -> None:
    assert mschap._des_key(key7) == _des_key_reference(key7)


def test_des_key_schedules_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mschap, "_DES_CIPHERS", {})
    monkeypatch.setattr(mschap, "_DES_CIPHERS_MAX", 8)
    challenge = bytes(range(8))
    first = mschap.challenge_response(challenge, bytes(16))
    for n in range(20):
        mschap.challenge_response(challenge, n.to_bytes(16, "big"))
    assert len(mschap._DES_CIPHERS) <= 8
    assert mschap.challenge_response(challenge, bytes(16)) == first  # evicted, made again
