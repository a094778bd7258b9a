"""TACACS+ command authorization (RFC 8907 6, service=shell with cmd/cmd-arg): pure.

`authorize_command(command_set, command_line)` normalises the line the service joined from the
``cmd`` and ``cmd-arg`` arguments (whitespace collapsed, a trailing ``<cr>`` token dropped), splits
it at every ``|`` into the commands of a pipeline and checks each one against the set's rules in
order: the first rule whose pattern matches the WHOLE command (``re.fullmatch``) decides, the
set's default when none does. A line is permitted only if every command of it is.

Splitting at every ``|`` errs on the strict side: a ``|`` inside an argument (``include a|b``)
makes one more command to permit, never one fewer. Devices expand abbreviated keywords
(``conf t``) before they ask; arguments arrive as typed.
"""

from __future__ import annotations

from typing import Final

from policy.model import CommandAction, CommandRule, CommandSet, CommandVerdict, SegmentVerdict

__all__ = ["MAX_COMMAND", "authorize_command", "normalize_command", "split_pipeline"]

MAX_COMMAND: Final = 2048  # characters of a normalised command line; longer ones are denied
_CR: Final = "<cr>"
_PERMIT: Final = CommandAction.PERMIT


def normalize_command(line: str) -> str:
    """``"show  running-config <cr>"`` -> ``"show running-config"``: words joined by one space,
    a trailing ``<cr>`` token (how RFC 8907 devices end a complete command) dropped."""
    words = line.split()
    if words and words[-1] == _CR:
        words.pop()
    return " ".join(words)


def split_pipeline(normalized: str) -> tuple[str, ...]:
    """The commands of a normalised line, split at every ``|`` (``"a | b"`` -> ``("a", "b")``)."""
    return tuple(part.strip() for part in normalized.split("|"))


def _decide(command_set: CommandSet, command: str) -> SegmentVerdict:
    for rule in command_set.rules:
        if rule.regex.fullmatch(command) is not None:
            return SegmentVerdict(command, rule.action is _PERMIT, rule)
    return SegmentVerdict(command, command_set.default is _PERMIT, None)


def _shown(command: str) -> str:
    return command if command else "''"


def _by(rule: CommandRule | None) -> str:
    return "" if rule is None else f" {rule.describe()}"


def authorize_command(command_set: CommandSet, command_line: str) -> CommandVerdict:
    """Decide one command line; the reason reads e.g.
    ``command permitted by command set netops rule 1 (show .*): show running-config`` or, when the
    default decided, ``command denied by command set netops: reload in 5``. A denied pipeline
    names its first denied command: ``command denied by command set netops: tee x (in show run |
    tee x)``."""
    name = command_set.name
    line = normalize_command(command_line)
    if len(line) > MAX_COMMAND:
        reason = f"command denied by command set {name}: longer than {MAX_COMMAND} characters"
        return CommandVerdict(False, name, line, None, (), reason)
    segments = tuple(_decide(command_set, part) for part in split_pipeline(line))
    for seg in segments:
        if not seg.permitted:
            where = f" (in {line})" if len(segments) > 1 else ""
            shown = _shown(seg.command)
            reason = f"command denied by command set {name}{_by(seg.rule)}: {shown}{where}"
            return CommandVerdict(False, name, line, seg.rule, segments, reason)
    rules: list[str] = []
    for seg in segments:
        words = "default" if seg.rule is None else seg.rule.describe()
        if words not in rules:
            rules.append(words)
    by = "" if rules == ["default"] else " " + ", ".join(rules)
    reason = f"command permitted by command set {name}{by}: {_shown(line)}"
    return CommandVerdict(True, name, line, segments[0].rule, segments, reason)
