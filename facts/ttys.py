"""
ttys(5): the terminals init(8) starts gettys on, read and edited line by line.

.. code:: python

    from facts.ttys import Ttys, ensure_tty
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyinfra.api import FactBase

from .files import FileContent, regular_file_text

TTYS = "/etc/ttys"

# The first status word turns the getty on or off (ttys(5)).
ENABLING = frozenset(("on", "onifconsole", "onifexists"))
SWITCHES = ENABLING | {"off"}
FLAGS = frozenset(("secure", "insecure", "dialup", "network", "local", "rtscts", "softcd"))

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]*$")


@dataclass(frozen=True)
class TtyEntry:
    name: str
    getty: str  # the command, quotes removed: "/usr/libexec/getty Pc"
    term_type: str
    status: tuple[str, ...]  # ("onifconsole", "secure")
    line_no: int  # 1-based
    commented: bool

    @property
    def enabled(self) -> bool:
        return not self.commented and any(word in ENABLING for word in self.status)


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """Whitespace-separated fields with their spans; "double quoted" fields keep spaces; '#' ends the line."""

    tokens = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
            continue
        if char == "#":
            break
        start = index
        if char == '"':
            close = text.find('"', index + 1)
            end = len(text) if close < 0 else close + 1
            tokens.append((text[start + 1 : end - 1 if close >= 0 else end], start, end))
            index = end
            continue
        while index < len(text) and not text[index].isspace() and text[index] != "#":
            index += 1
        tokens.append((text[start:index], start, index))
    return tokens


def _looks_like_entry(getty: str, status: tuple[str, ...]) -> bool:
    if not status or status[0] not in SWITCHES:
        return False
    if not (getty == "none" or getty.startswith("/")):
        return False
    return all(word in SWITCHES or word in FLAGS or re.match(r"^(window|group)=\S+$", word) for word in status[1:])


def _entry(body: str, line_no: int, commented: bool) -> TtyEntry | None:
    tokens = _tokens(body)
    if len(tokens) < 2 or not _NAME.match(tokens[0][0]):
        return None
    status = tuple(token[0] for token in tokens[3:])
    if commented and not _looks_like_entry(tokens[1][0], status):
        return None  # prose, or the column header, not a commented-out entry
    return TtyEntry(
        name=tokens[0][0],
        getty=tokens[1][0],
        term_type=tokens[2][0] if len(tokens) > 2 else "",
        status=status,
        line_no=line_no,
        commented=commented,
    )


def parse_ttys(text: str) -> list[TtyEntry]:
    """
    Parse ttys(5): ``name  getty  type  status...`` per line, getty being a
    double-quoted command that may contain spaces. Comment lines are kept as
    ``commented=True`` entries when they look like an entry (``#ttyv8 "..." xterm off``:
    a getty that is ``none`` or a path, a status of ttys(5) words starting with
    on/off/onifconsole/onifexists); other comments are skipped.
    """

    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            entry = _entry(stripped.lstrip("#"), number, commented=True)
        else:
            entry = _entry(line, number, commented=False)
        if entry:
            entries.append(entry)
    return entries


def ensure_tty(text: str, name: str, line: str) -> str:
    """
    Make sure exactly one active entry named ``name`` exists, enabled:

    * one active entry whose status has ``on``/``onifconsole`` (or ``onifexists``):
      ``text`` unchanged;
    * several active entries: the first is kept, the others are removed;
    * the kept entry is ``off``: ``off`` becomes ``on`` in place (nothing else on
      the line changes); an entry with no on/off word is replaced by ``line``;
    * no active entry (none, or only commented ones): ``line`` is appended.
    """

    lines = text.splitlines(keepends=True)
    active = [entry for entry in parse_ttys(text) if entry.name == name and not entry.commented]
    if not active:
        prefix = text if not text or text.endswith("\n") else text + "\n"
        return prefix + line.rstrip("\n") + "\n"

    first = active[0]
    for extra in reversed(active[1:]):
        del lines[extra.line_no - 1]

    index = first.line_no - 1
    if any(word in ENABLING for word in first.status):
        return "".join(lines)
    original = lines[index]
    body = original.rstrip("\r\n")
    ending = original[len(body) :]
    if "off" in first.status:
        for word, start, end in _tokens(body)[3:]:
            if word == "off":
                lines[index] = body[:start] + "on" + body[end:] + ending
                break
    else:
        lines[index] = line.rstrip("\n") + (ending or "\n")
    return "".join(lines)


class Ttys(FactBase):
    """
    Returns the entries of /etc/ttys, commented-out entries included.

    .. code:: python

        [TtyEntry(name="xc0", getty="/usr/libexec/getty Pc", term_type="xterm",
                  status=("onifconsole", "secure"), line_no=50, commented=False), ...]
    """

    default = list

    def command(self) -> str:
        return FileContent().command(TTYS)

    def process(self, output: list[str]) -> list[TtyEntry]:
        return parse_ttys(regular_file_text(FileContent().process(output)))
