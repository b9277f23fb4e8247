"""
rc-style files: /etc/rc.conf, /boot/loader.conf, /etc/sysctl.conf and xl.conf
all hold ``key=value`` lines with optional quotes and ``#`` comments.

    from facts.rcfile import RcFile
    rc_conf = host.get_fact(RcFile, path="/etc/rc.conf")
    rc_conf.get("xencommons_enable")   # "YES"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyinfra.api import FactBase

from .files import FileContent
from .sections import ReadError

ASSIGNMENT = re.compile(
    r"""^\s*(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)\s*(?P<op>\+?=)\s*(?P<value>"[^"]*"|'[^']*'|[^\s#"']*)\s*(?P<comment>\#.*)?$""",
)


@dataclass(frozen=True)
class Assignment:
    line_no: int
    key: str
    value: str
    append: bool


def parse_assignment(line: str, line_no: int = 0) -> Assignment | None:
    """A ``key="value"`` / ``key+="value"`` line, or ``None`` for anything else."""

    match = ASSIGNMENT.match(line)
    if not match:
        return None
    value = match.group("value")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return Assignment(line_no, match.group("key"), value, match.group("op") == "+=")


def split_lines(text: str) -> list[str]:
    """
    The file's lines as sh reads them, each with its own ending (``\n`` only; a
    ``\r`` before it stays with the line): ``"".join(split_lines(t)) == t``.
    """

    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def parse_assignments(text: str) -> list[Assignment]:
    found = []
    for line_no, line in enumerate(split_lines(text)):
        assignment = parse_assignment(line.removesuffix("\n").removesuffix("\r"), line_no)
        if assignment:
            found.append(assignment)
    return found


def parse_rc_text(text: str) -> dict[str, str]:
    """
    The effective value of every key: the last plain assignment wins, and
    ``key+="more"`` appends with a space, as sysrc(8) does.
    """

    values: dict[str, str] = {}
    for assignment in parse_assignments(text):
        if assignment.append and values.get(assignment.key):
            values[assignment.key] = f"{values[assignment.key]} {assignment.value}"
        else:
            values[assignment.key] = assignment.value
    return values


class RcFile(FactBase):
    """
    The effective key/value pairs of an rc-style file (``{}`` when the host says
    it is absent; a directory or device there, or an unreadable file, fails the
    host). It reads the file exactly as the composite reads do.

    .. code:: python

        loader = host.get_fact(RcFile, path="/boot/loader.conf")
    """

    def command(self, path: str) -> str:
        return FileContent().command(path)

    def process(self, output: list[str]) -> dict[str, str]:
        read = FileContent().process(output)
        if read.write_refusal():
            raise ReadError(read.write_refusal().replace(": refusing to replace it", ""))
        return parse_rc_text(read.text or "")
