"""
Editing rc-style files (rc.conf, loader.conf, sysctl.conf, xl.conf) in place.

pyinfra's built-in ``server.sysrc`` cannot target another file than rc.conf and
will not change a key that already has a value; these pure functions can, and
leave every other line, comment and blank line exactly as it was.

    >>> set_rc_values('# boot\\nautoboot_delay="3"\\n', {"xen_kernel": "/boot/xen"})
    '# boot\\nautoboot_delay="3"\\nxen_kernel="/boot/xen"\\n'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from facts.rcfile import ASSIGNMENT, parse_assignments, parse_rc_text, split_lines
from spec.rcvalue import check_rc_value

KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def render_assignment(key: str, value: str, quote: bool = True) -> str:
    """
    ``key="value"`` (``key=value`` with ``quote=False``, as sysctl.conf(5) has
    it). A value rc's ``eval`` could read as shell syntax is refused whatever
    its key (spec/rcvalue.py); the message never repeats the value.
    """

    if not KEY.match(key):
        raise ValueError(f"refusing to write {key!r} to an rc file: not a variable name")
    check_rc_value(key, value)
    if not quote and (not value or " " in value):
        raise ValueError(f"{key} cannot be written unquoted: its value is empty or has a space")
    return f'{key}="{value}"' if quote else f"{key}={value}"


def set_rc_values(
    text: str,
    values: dict[str, str],
    remove: Iterable[str] = (),
    quote: bool = True,
) -> str:
    """
    Return ``text`` with each key of ``values`` set and each key of ``remove``
    gone. A key that already has the value is not touched; a key with another
    value is rewritten on its last plain assignment line (keeping the line's
    indentation, trailing comment and line ending); ``key+=`` lines of a
    rewritten key are folded into it; a new key is appended at the end. Every
    other byte stays as it was: a file without a final newline gets one only
    when a line is appended after its last. sysctl.conf(5) takes its values
    unquoted: pass ``quote=False``.
    """

    lines = split_lines(text)
    current = parse_rc_text(text)
    assignments = parse_assignments(text)
    drop: set[int] = set()
    appended: list[str] = []

    for key in remove:
        drop.update(a.line_no for a in assignments if a.key == key)

    for key, value in values.items():
        new_line = render_assignment(key, value, quote)
        mine = [a for a in assignments if a.key == key]
        if current.get(key) == value and not any(a.append for a in mine):
            continue
        if not mine:
            appended.append(new_line)
            continue
        plain = [a for a in mine if not a.append]
        target = plain[-1] if plain else mine[0]
        old = lines[target.line_no]
        body = old.removesuffix("\n").removesuffix("\r")
        ending = old[len(body):]
        match = ASSIGNMENT.match(body)
        indent = body[: len(body) - len(body.lstrip())]
        comment = match.group("comment") if match else None
        lines[target.line_no] = f"{indent}{new_line}" + (f" {comment}" if comment else "") + ending
        drop.update(a.line_no for a in mine if a.append and a.line_no != target.line_no)

    kept = [line for index, line in enumerate(lines) if index not in drop]
    if appended:
        newline = "\r\n" if any(line.endswith("\r\n") for line in kept) else "\n"
        if kept and not kept[-1].endswith("\n"):
            kept[-1] += newline
        kept.extend(line + newline for line in appended)
    return "".join(kept)
