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

from facts.rcfile import ASSIGNMENT, parse_assignments, parse_rc_text

UNSAFE_VALUE = re.compile(r"[\"\\$`\n\r]")


def render_assignment(key: str, value: str, quote: bool = True) -> str:
    if UNSAFE_VALUE.search(value) or (not quote and (not value or " " in value or "#" in value)):
        raise ValueError(f"refusing to write {key}: its value {value!r} cannot be written safely")
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
    indentation and trailing comment); ``key+=`` lines of a rewritten key are
    folded into it; a new key is appended at the end. sysctl.conf(5) takes its
    values unquoted: pass ``quote=False``.
    """

    lines = text.splitlines()
    current = parse_rc_text(text)
    drop: set[int] = set()
    appended: list[str] = []

    for key in remove:
        drop.update(a.line_no for a in parse_assignments(text) if a.key == key)

    for key, value in values.items():
        new_line = render_assignment(key, value, quote)
        mine = [a for a in parse_assignments(text) if a.key == key]
        if current.get(key) == value and not any(a.append for a in mine):
            continue
        if not mine:
            appended.append(new_line)
            continue
        plain = [a for a in mine if not a.append]
        target = plain[-1] if plain else mine[0]
        old = lines[target.line_no]
        match = ASSIGNMENT.match(old)
        indent = old[: len(old) - len(old.lstrip())]
        comment = match.group("comment") if match else None
        lines[target.line_no] = f"{indent}{new_line}" + (f" {comment}" if comment else "")
        drop.update(a.line_no for a in mine if a.append and a.line_no != target.line_no)

    kept = [line for index, line in enumerate(lines) if index not in drop]
    kept.extend(appended)
    if not kept:
        return ""
    return "\n".join(kept) + "\n"
