"""Device profiling: signals, weighted rules, accumulation and hysteresis. Pure.

Signals are named strings (``dhcp.params`` = option 55 in the client's order as "1,3,6,15",
``dhcp.vendor_class``, ``hostname``, ``oui.vendor``, ``cdp.platform``, ...). They come from a
DHCP message (``dhcp_signals``), from the Cisco-AVPairs a switch's device sensor puts into
RADIUS accounting (``accounting_signals``) and from the MAC itself (``mac_signals``).

A rule says: when ``signal`` matches ``pattern`` (equals, prefix, contains: case-insensitive;
or a regex, searched case-insensitively) the endpoint scores ``weight`` (1-100) towards
``profile``. A profile's confidence combines its matching rules as independent evidence:
``100 * (1 - prod(1 - weight/100))``, so two rules of 60 give 84 and nothing exceeds 100.

``evaluate`` folds new signals into the endpoint's accumulated ones (they persist across
packets, in ``Endpoint.signals``) and, when asked to decide (a DHCPREQUEST, an accounting
record), picks the profile with hysteresis: a different best profile replaces the current one
at once only if it beats the current profile's own score by ``margin``; a smaller lead has to
hold on ``confirm`` decisions in a row. A change of profile class (printer -> workstation)
on an endpoint that had a confident profile is reported as possible MAC spoofing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from posture.dhcp import DhcpMessage, DhcpMessageType, DhcpOption, pull_relay_agent_info

__all__ = [
    "DEFAULT_CLASSES",
    "MATCH_KINDS",
    "SIGNAL_NAMES",
    "Hysteresis",
    "Match",
    "Outcome",
    "ProfileRule",
    "RuleError",
    "accounting_signals",
    "best_profile",
    "class_of",
    "compile_rule",
    "compile_rules",
    "dhcp_signals",
    "evaluate",
    "is_locally_administered",
    "mac_signals",
    "score",
]

MATCH_KINDS = ("equals", "prefix", "contains", "regex")
SIGNAL_NAMES = (
    "dhcp.params",  # option 55, in order: "1,3,6,15,31,33,43,44,46,47,119,121,249,252"
    "dhcp.vendor_class",  # option 60
    "hostname",  # option 12
    "dhcp.client_id",  # option 61, hex
    "dhcp.user_class",  # option 77
    "dhcp.circuit_id",  # option 82 sub-option 1
    "dhcp.remote_id",  # option 82 sub-option 2
    "dhcp.message_type",  # "request", "discover", "inform", ...
    "oui.vendor",  # the IEEE registration of the MAC's OUI
    "mac.randomized",  # "true" when the locally administered bit is set
    "cdp.device_id",
    "cdp.platform",
    "cdp.capabilities",  # hex of the 32-bit capability mask
    "cdp.software",
    "lldp.system_name",
    "lldp.system_description",
    "lldp.capabilities",  # hex: system capabilities then enabled capabilities
    "lldp.mud_url",  # RFC 8520 MUD URL (LLDP TLV 127, OUI 00-00-5E subtype 1)
    "device.platform",  # device-platform= (IOS-XE device classifier)
    "device.type",
    "device.name",
)
_SIGNALS = frozenset(SIGNAL_NAMES)
MAX_VALUE = 512  # longest signal value kept (hostnames, descriptions)
CANDIDATE_KEY = "profile.candidate"  # hysteresis state, kept with the signals
MISMATCH_KEY = "profile.mismatch"  # last reported class mismatch on an admin-set profile

# Profile -> class; a change of class on a confidently profiled MAC is possible spoofing.
# Profiles not listed are their own class.
DEFAULT_CLASSES: Mapping[str, str] = {
    "windows-workstation": "computer",
    "macos": "computer",
    "linux": "computer",
    "chromeos": "computer",
    "android": "mobile",
    "iphone": "mobile",
    "ipad": "mobile",
    "printer": "printer",
    "ip-phone": "phone",
    "camera": "camera",
}


class RuleError(ValueError):
    """A profiling rule that cannot be used (the message names the field)."""


@dataclass(frozen=True, slots=True)
class ProfileRule:
    name: str
    signal: str
    match: str
    pattern: str
    profile: str
    weight: int
    _folded: str = field(default="", repr=False, compare=False)
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def matches(self, value: str) -> bool:
        if self.match == "regex":
            assert self._regex is not None
            return self._regex.search(value) is not None
        folded = value.casefold()
        if self.match == "equals":
            return folded == self._folded
        if self.match == "prefix":
            return folded.startswith(self._folded)
        return self._folded in folded


def compile_rule(
    *, name: str, signal: str, match: str, pattern: str, profile: str, weight: int
) -> ProfileRule:
    """A checked rule. Raises RuleError naming the field at fault."""
    if not name.strip():
        raise RuleError("name: must not be empty")
    if signal not in _SIGNALS:
        raise RuleError(f"signal: unknown signal {signal!r} (one of {', '.join(SIGNAL_NAMES)})")
    if match not in MATCH_KINDS:
        raise RuleError(f"match: must be one of {', '.join(MATCH_KINDS)} (got {match!r})")
    if not pattern:
        raise RuleError("pattern: must not be empty")
    if not profile.strip():
        raise RuleError("profile: must not be empty")
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
        raise RuleError(f"weight: must be 1-100 (got {weight!r})")
    regex = None
    if match == "regex":
        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise RuleError(f"pattern: not a regular expression: {exc}") from None
    return ProfileRule(
        name=name.strip(),
        signal=signal,
        match=match,
        pattern=pattern,
        profile=profile.strip(),
        weight=weight,
        _folded=pattern.casefold(),
        _regex=regex,
    )


def compile_rules(items: Iterable[Mapping[str, Any]]) -> tuple[ProfileRule, ...]:
    """Rules from plain data (rows or JSON objects with name, signal, match, pattern, profile,
    weight). Raises RuleError naming the rule and field."""
    out: list[ProfileRule] = []
    for item in items:
        try:
            out.append(
                compile_rule(
                    name=str(item.get("name", "")),
                    signal=str(item.get("signal", "")),
                    match=str(item.get("match", "equals")),
                    pattern=str(item.get("pattern", "")),
                    profile=str(item.get("profile", "")),
                    weight=item.get("weight", 50),
                )
            )
        except RuleError as exc:
            raise RuleError(f"rule {item.get('name', '?')!r}: {exc}") from None
    return tuple(out)


# --- signals --------------------------------------------------------------------------------


def _text(value: bytes) -> str:
    """Printable text of an untrusted option value (controls dropped, bounded length)."""
    s = value.decode("utf-8", "replace")
    s = "".join(ch for ch in s if ch.isprintable()).strip()
    return s[:MAX_VALUE]


def _text_or_hex(value: bytes) -> str:
    if value and all(32 <= b < 127 for b in value):
        return value.decode("ascii")[:MAX_VALUE]
    return value.hex(":")[:MAX_VALUE]


_MESSAGE_TYPES = {t: t.name.removeprefix("DHCP").lower() for t in DhcpMessageType}


def _dhcp_option_signals(code: int, value: bytes, out: dict[str, str]) -> None:
    if code == DhcpOption.PARAMETER_REQUEST_LIST:
        if value:
            out["dhcp.params"] = ",".join(str(b) for b in value)[:MAX_VALUE]
    elif code == DhcpOption.VENDOR_CLASS:
        text = _text(value)
        if text:
            out["dhcp.vendor_class"] = text
    elif code == DhcpOption.HOST_NAME:
        text = _text(value)
        if text:
            out["hostname"] = text
    elif code == DhcpOption.CLIENT_ID:
        if value:
            out["dhcp.client_id"] = value.hex(":")[:MAX_VALUE]
    elif code == DhcpOption.USER_CLASS:
        text = _text(value)
        if text:
            out["dhcp.user_class"] = text
    elif code == DhcpOption.RELAY_AGENT_INFO:
        for sub, sub_value in pull_relay_agent_info(value):
            if sub == 1 and sub_value:
                out["dhcp.circuit_id"] = _text_or_hex(sub_value)
            elif sub == 2 and sub_value:
                out["dhcp.remote_id"] = _text_or_hex(sub_value)


def dhcp_signals(msg: DhcpMessage) -> dict[str, str]:
    """The profiling signals of one DHCP message (options 55, 60, 12, 61, 77, 82; 53)."""
    out: dict[str, str] = {}
    for code, value in msg.options:
        _dhcp_option_signals(code, value, out)
    kind = msg.message_type
    if isinstance(kind, DhcpMessageType):
        out["dhcp.message_type"] = _MESSAGE_TYPES[kind]
    return out


def is_locally_administered(mac: str) -> bool:
    """The U/L bit (0x02 of the first octet, IEEE 802): set on randomized/private MACs."""
    digits = "".join(ch for ch in mac if ch in "0123456789abcdefABCDEF")
    if len(digits) < 2:
        return False
    return bool(int(digits[:2], 16) & 0x02)


def mac_signals(mac: str, vendor: str | None) -> dict[str, str]:
    """Signals of the MAC itself: its OUI's registered vendor (looked up by the caller) and
    whether it is locally administered (randomized)."""
    out = {"mac.randomized": "true" if is_locally_administered(mac) else "false"}
    if vendor:
        out["oui.vendor"] = vendor[:MAX_VALUE]
    return out


def _tlvs(raw: bytes) -> list[tuple[int, bytes]]:
    """Device-sensor TLVs: two octets type, two octets length, the value; as many as fill
    ``raw`` (a short tail is ignored)."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 4 <= len(raw):
        kind = int.from_bytes(raw[pos : pos + 2], "big")
        length = int.from_bytes(raw[pos + 2 : pos + 4], "big")
        if pos + 4 + length > len(raw):
            break
        out.append((kind, raw[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    return out


_TEXT_PAIRS = {
    "cdpcacheplatform": "cdp.platform",
    "cdpcachedeviceid": "cdp.device_id",
    "cdpcacheversion": "cdp.software",
    "cdpcachecapabilities": "cdp.capabilities",
    "lldpsystemname": "lldp.system_name",
    "lldpsystemdescription": "lldp.system_description",
    "lldpcapabilities": "lldp.capabilities",
    "device-platform": "device.platform",
    "device-type": "device.type",
    "device-name": "device.name",
    "dc-device-name": "device.name",
    "dc-profile-name": "device.type",
}
_CDP_TLVS = {1: "cdp.device_id", 5: "cdp.software", 6: "cdp.platform"}
_LLDP_TLVS = {5: "lldp.system_name", 6: "lldp.system_description"}
_UNCLASSIFIED = frozenset({"un-classified device", "unknown device", "unknown"})


def accounting_signals(avpairs: Iterable[bytes | str]) -> dict[str, str]:
    """Signals from the Cisco-AVPairs (vendor 9, type 1) of an accounting request.

    A Cisco switch's device sensor sends the endpoint's DHCP options, CDP and LLDP TLVs as
    binary TLVs after the name: ``dhcp-option=``, ``cdp-tlv=`` and ``lldp-tlv=`` followed by
    two octets of type, two of length and the value (``dhcp-option=\\0\\x37\\0\\x09...`` is
    option 55). Text forms are read too: ``cdpCachePlatform=Cisco IP Phone 7962``,
    ``lldpSystemDescription=...``, ``device-platform=...``. Anything else is ignored."""
    out: dict[str, str] = {}
    for pair in avpairs:
        raw = pair.encode("utf-8", "surrogateescape") if isinstance(pair, str) else pair
        name_b, sep, value = raw.partition(b"=")
        if not sep:
            continue
        name = name_b.decode("ascii", "replace").strip().lower()
        if name == "dhcp-option":
            for code, option in _tlvs(value):
                if code < 255:
                    _dhcp_option_signals(code, option, out)
        elif name == "cdp-tlv":
            for kind, tlv in _tlvs(value):
                if kind in _CDP_TLVS:
                    text = _text(tlv)
                    if text:
                        out[_CDP_TLVS[kind]] = text
                elif kind == 4 and len(tlv) == 4:
                    out["cdp.capabilities"] = tlv.hex()
        elif name == "lldp-tlv":
            for kind, tlv in _tlvs(value):
                if kind in _LLDP_TLVS:
                    text = _text(tlv)
                    if text:
                        out[_LLDP_TLVS[kind]] = text
                elif kind == 7 and len(tlv) == 4:
                    out["lldp.capabilities"] = tlv.hex()
                elif kind == 127 and tlv[:4] == b"\x00\x00\x5e\x01":
                    text = _text(tlv[4:])
                    if text:
                        out["lldp.mud_url"] = text
        elif name in _TEXT_PAIRS:
            text = _text(value)
            if text and text.casefold() not in _UNCLASSIFIED:
                out[_TEXT_PAIRS[name]] = text
    return out


# --- scoring --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    profile: str
    confidence: int  # 0-100
    rules: tuple[str, ...]  # the rules that matched, by name
    signals: tuple[str, ...]  # the signals they matched on


def score(rules: Sequence[ProfileRule], signals: Mapping[str, str]) -> dict[str, Match]:
    """Each profile any rule points at with its combined confidence (noisy-OR of weights)."""
    miss: dict[str, float] = {}
    names: dict[str, list[str]] = {}
    used: dict[str, list[str]] = {}
    for rule in rules:
        value = signals.get(rule.signal)
        if value is None or not rule.matches(value):
            continue
        miss[rule.profile] = miss.get(rule.profile, 1.0) * (1.0 - rule.weight / 100.0)
        names.setdefault(rule.profile, []).append(rule.name)
        signal_list = used.setdefault(rule.profile, [])
        if rule.signal not in signal_list:
            signal_list.append(rule.signal)
    return {
        profile: Match(
            profile,
            min(100, round(100.0 * (1.0 - m))),
            tuple(names[profile]),
            tuple(used[profile]),
        )
        for profile, m in miss.items()
    }


def best_profile(scores: Mapping[str, Match]) -> Match | None:
    """The highest confidence; ties go to the profile with more matching rules, then by name
    (deterministic)."""
    if not scores:
        return None
    return max(scores.values(), key=lambda m: (m.confidence, len(m.rules), _neg(m.profile)))


def _neg(name: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in name)


def class_of(profile: str | None, classes: Mapping[str, str] = DEFAULT_CLASSES) -> str | None:
    if profile is None:
        return None
    return classes.get(profile, profile)


# --- accumulation and hysteresis ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hysteresis:
    margin: int = 10  # a new best must beat the current profile's score by this at once...
    confirm: int = 3  # ...or lead on this many decisions in a row
    min_confidence: int = 30  # below this no profile is assigned
    confident: int = 50  # a profile this sure, changing class, is possible spoofing


@dataclass(frozen=True, slots=True)
class Outcome:
    signals: dict[str, Any]  # the accumulated signals to store
    profile: str | None
    confidence: int
    source: str | None
    changed: bool  # the profile changed
    best: Match | None  # what the rules say now (None when not decided or nothing matched)
    events: tuple[tuple[str, dict[str, Any]], ...] = ()


def current_values(stored: Mapping[str, Any]) -> dict[str, str]:
    """Signal name -> latest value, from the stored form."""
    out: dict[str, str] = {}
    for name, entry in stored.items():
        if name in _SIGNALS and isinstance(entry, Mapping) and isinstance(entry.get("value"), str):
            out[name] = entry["value"]
    return out


def accumulate(stored: Mapping[str, Any], new: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """Fold ``new`` signals into the stored ones: each keeps its latest value, how often it was
    seen and when first and last (ISO 8601)."""
    out: dict[str, Any] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in stored.items()}
    stamp = now.isoformat()
    for name, value in new.items():
        if name not in _SIGNALS:
            continue
        entry = out.get(name)
        if isinstance(entry, dict) and entry.get("value") == value:
            entry["count"] = int(entry.get("count", 0)) + 1
            entry["last"] = stamp
        else:
            out[name] = {"value": value, "count": 1, "first": stamp, "last": stamp}
    return out


def _source_of(match: Match, channel: str) -> str:
    if all(s.startswith(("oui.", "mac.")) for s in match.signals):
        return "oui"
    return channel


def evaluate(
    *,
    stored: Mapping[str, Any],
    new: Mapping[str, str],
    now: datetime,
    rules: Sequence[ProfileRule],
    profile: str | None,
    confidence: int,
    source: str | None,
    channel: str,
    decide: bool = True,
    params: Hysteresis = Hysteresis(),
    classes: Mapping[str, str] = DEFAULT_CLASSES,
) -> Outcome:
    """Accumulate ``new`` signals seen on ``channel`` (dhcp, radius-acct, capture) and, when
    ``decide``, choose the profile with hysteresis. ``profile``/``confidence``/``source`` are
    the endpoint's current ones; a ``source`` of "admin" means an administrator set the
    profile: it is kept, and a confident profile of another class is reported as possible
    spoofing (once per such profile)."""
    signals = accumulate(stored, new, now)
    if not decide:
        return Outcome(signals, profile, confidence, source, False, None)
    values = current_values(signals)
    scores = score(rules, values)
    best = best_profile(scores)
    events: list[tuple[str, dict[str, Any]]] = []

    if source == "admin":
        if (
            best is not None
            and best.confidence >= params.confident
            and profile is not None
            and class_of(best.profile, classes) != class_of(profile, classes)
        ):
            if _candidate(signals, MISMATCH_KEY) != best.profile:
                signals[MISMATCH_KEY] = {"value": best.profile, "count": 1, "last": now.isoformat()}
                events.append(
                    ("possible_spoofing", _spoof(profile, best, confidence, channel, classes))
                )
        else:
            signals.pop(MISMATCH_KEY, None)
        return Outcome(signals, profile, confidence, source, False, best, tuple(events))

    if best is None or best.confidence < params.min_confidence:
        signals.pop(CANDIDATE_KEY, None)
        # The current profile stays (one weak packet does not unmake it); its score now:
        mine = scores.get(profile) if profile is not None else None
        kept = mine.confidence if mine is not None else confidence
        return Outcome(signals, profile, kept, source, False, best)

    if profile is None or best.profile == profile:
        signals.pop(CANDIDATE_KEY, None)
        new_source = _source_of(best, channel) if profile is None else source
        if profile is None:
            events.append(("profile_change", _change(None, best, channel)))
        return Outcome(
            signals, best.profile, best.confidence, new_source, profile is None, best, tuple(events)
        )

    # A different profile leads: at once with a clear margin, else after `confirm` decisions.
    mine = scores.get(profile)
    current_score = mine.confidence if mine is not None else 0
    lead = best.confidence - current_score
    switch = lead >= params.margin
    if not switch and lead > 0:
        count = 1
        if _candidate(signals, CANDIDATE_KEY) == best.profile:
            count = int(signals[CANDIDATE_KEY].get("count", 0)) + 1
        signals[CANDIDATE_KEY] = {"value": best.profile, "count": count, "last": now.isoformat()}
        switch = count >= params.confirm
    elif not switch:
        signals.pop(CANDIDATE_KEY, None)
    if not switch:
        return Outcome(signals, profile, current_score or confidence, source, False, best)
    signals.pop(CANDIDATE_KEY, None)
    events.append(("profile_change", _change(profile, best, channel)))
    if confidence >= params.confident and class_of(best.profile, classes) != class_of(
        profile, classes
    ):
        events.append(("possible_spoofing", _spoof(profile, best, confidence, channel, classes)))
    return Outcome(
        signals, best.profile, best.confidence, _source_of(best, channel), True, best, tuple(events)
    )


def _candidate(signals: Mapping[str, Any], key: str) -> str | None:
    entry = signals.get(key)
    if isinstance(entry, Mapping) and isinstance(entry.get("value"), str):
        return str(entry["value"])
    return None


def _change(old: str | None, best: Match, channel: str) -> dict[str, Any]:
    return {
        "from": old,
        "to": best.profile,
        "confidence": best.confidence,
        "source": channel,
        "rules": list(best.rules),
    }


def _spoof(
    old: str, best: Match, old_confidence: int, channel: str, classes: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "from": old,
        "from_class": class_of(old, classes),
        "to": best.profile,
        "to_class": class_of(best.profile, classes),
        "old_confidence": old_confidence,
        "confidence": best.confidence,
        "source": channel,
        "reason": "profile class changed on a known MAC: possible MAC spoofing",
    }
