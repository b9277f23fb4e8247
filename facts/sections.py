"""
Composite reads: many small shell commands run as one remote command, their
outputs told apart by marker lines. One SSH round trip instead of dozens.

Every marker carries a random nonce drawn once per run, and sits on a line of
its own: a newline is printed before each end marker and taken off again, so a
section's text is exactly what its command printed, final newline or not.
Nothing a command prints can end a section early or start another one, and a
read that does not parse completely stops the host (``ReadError``) instead of
being taken for an absent file.

    >>> command = composite_command({"ifaces": "ifconfig -l"})
    >>> split_sections(framed({"ifaces": ("em0 lo0\\n", 0)}), expected=["ifaces"])
    {'ifaces': Section(text='em0 lo0\\n', rc=0)}
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from pyinfra.api.exceptions import FactProcessError

# Drawn once per run (per process): a file on the host cannot know it in advance.
RUN_NONCE = secrets.token_hex(8)
MARK = "@@@"


class ReadError(FactProcessError):
    """
    The host's answer cannot be parsed completely: pyinfra fails that host (and
    only that host) with this message, since a fact's ``process`` raised it.
    """


@dataclass(frozen=True)
class Section:
    text: str  # exactly what the command printed (stdout and stderr)
    rc: int

    @property
    def ok(self) -> bool:
        return self.rc == 0


def begin_marker(name: str, nonce: str = RUN_NONCE) -> str:
    return f"{MARK}{nonce} begin {name}"


def end_marker(rc: int, nonce: str = RUN_NONCE) -> str:
    return f"{MARK}{nonce} end {rc}"


def check_section_name(name: str) -> str:
    if not name or any(char in name for char in "\n\r\0") or name != name.strip():
        raise ValueError(f"a section name must be one line without surrounding spaces: {name!r}")
    return name


def section_command(name: str, command: str, nonce: str = RUN_NONCE) -> str:
    """
    One section: its begin marker, the command (stdin closed, stderr folded in,
    so a failing tool explains itself), a newline, the end marker with the exit
    status.
    """

    begin = shlex.quote(begin_marker(check_section_name(name), nonce) + "\n")
    end = shlex.quote("\n" + f"{MARK}{nonce} end %s\n")
    return f"printf %s {begin}; {{ {command} ; }} </dev/null 2>&1; printf {end} \"$?\""


def composite_command(commands: dict[str, str], nonce: str = RUN_NONCE) -> str:
    """One shell command that runs each command in turn, even when one fails."""

    return "; ".join(section_command(name, command, nonce) for name, command in commands.items())


_END = re.compile(r"^end (\d{1,3})$")


def split_sections(
    lines: list[str],
    expected: Iterable[str] | None = None,
    nonce: str = RUN_NONCE,
) -> dict[str, Section]:
    """
    The sections of a composite read's output (pyinfra's stdout lines), each
    with the exact text its command printed. Raises ``ReadError`` on anything
    but complete framing: output outside a section, a section that begins and
    does not end (a cut connection), a malformed end marker, a section twice,
    or an expected section missing.
    """

    prefix = f"{MARK}{nonce} "
    sections: dict[str, Section] = {}
    name: str | None = None
    body: list[str] = []
    for line in lines:
        if line.startswith(prefix):
            marker = line[len(prefix):]
            if marker.startswith("begin "):
                if name is not None:
                    raise ReadError(f"the read's section {name!r} began and did not end")
                name, body = marker[len("begin "):], []
                if name in sections:
                    raise ReadError(f"the read's section {name!r} appears twice")
                continue
            match = _END.match(marker)
            if name is None or not match:
                raise ReadError(f"the read's output has a misplaced or malformed marker: {marker[:40]!r}")
            # The newline printed before the end marker is not the command's.
            sections[name] = Section("\n".join(body), int(match.group(1)))
            name = None
        elif name is not None:
            body.append(line)
        else:
            raise ReadError("the read printed output outside its sections (not the command that was sent?)")
    if name is not None:
        raise ReadError(f"the read's section {name!r} began and did not end (output cut short)")
    for wanted in expected or ():
        if wanted not in sections:
            raise ReadError(f"the read has no section {wanted!r} (output cut short)")
    return sections


def framed(outputs: dict[str, tuple[str, int]], nonce: str = RUN_NONCE) -> list[str]:
    """
    The stdout lines a host would send for these ``{name: (text, rc)}``: for
    tests, and to show the format.
    """

    stream = "".join(f"{begin_marker(name, nonce)}\n{text}\n{end_marker(rc, nonce)}\n" for name, (text, rc) in outputs.items())
    return stream.split("\n")[:-1]
