"""
login.conf(5): login class capability records, read and edited without
disturbing anything else in the file.

.. code:: python

    from facts.logincap import LoginConf, set_login_capability
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from .files import FileContent, regular_file_text

LOGIN_CONF = "/etc/login.conf"

_CAP_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class LoginClass:
    names: tuple[str, ...]  # "default|Default class" -> ("default", "Default class")
    capabilities: dict[str, str | bool] = field(hash=False)
    start_line: int  # 1-based, the line with the names
    end_line: int  # 1-based, inclusive

    @property
    def name(self) -> str:
        return self.names[0]


def _records(lines: list[str]) -> list[tuple[int, int]]:
    """(first, last) 0-based line indexes of each record; comments/blank lines skipped."""

    records = []
    index = 0
    while index < len(lines):
        line = lines[index].rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            index += 1
            continue
        start = index
        while line.rstrip().endswith("\\") and index + 1 < len(lines):
            following = lines[index + 1].rstrip("\r\n")
            if not following.strip():
                break
            index += 1
            line = following
        records.append((start, index))
        index += 1
    return records


def _parse_capability(text: str) -> tuple[str, str | bool] | None:
    text = text.strip()
    if not text:
        return None
    for separator in ("=", "#"):
        name, sep, value = text.partition(separator)
        if sep and "=" not in name and "#" not in name:
            return name.strip(), value
    if text.endswith("@"):
        return text[:-1].strip(), False
    return text, True


def _record_fields(lines: list[str], start: int, end: int) -> list[str]:
    joined = "".join(line.rstrip("\r\n").rstrip().removesuffix("\\") for line in lines[start : end + 1])
    return joined.split(":")


def parse_login_conf(text: str) -> list[LoginClass]:
    """
    Parse login.conf(5) into its class records. A record spans the lines that
    end in ``\\``; fields are separated by ``:``; the first field is the class
    names (``|``-separated). ``name=value`` and ``name#number`` give strings,
    a bare ``name`` is ``True`` and ``name@`` (disabled) is ``False``. When a
    capability repeats, the first one counts (as with getcap(3)). Lines starting
    with ``#`` outside a record are comments: commented-out example classes are
    not classes.
    """

    lines = text.splitlines(keepends=True)
    classes = []
    for start, end in _records(lines):
        fields = _record_fields(lines, start, end)
        names = tuple(name.strip() for name in fields[0].split("|") if name.strip())
        capabilities: dict[str, str | bool] = {}
        for raw in fields[1:]:
            parsed = _parse_capability(raw)
            if parsed and parsed[0] not in capabilities:
                capabilities[parsed[0]] = parsed[1]
        classes.append(LoginClass(names=names, capabilities=capabilities, start_line=start + 1, end_line=end + 1))
    return classes


def login_class(text: str, name: str) -> LoginClass | None:
    """The record one of whose names is ``name`` (the first such record), or None."""

    for record in parse_login_conf(text):
        if name in record.names:
            return record
    return None


def set_login_capability(text: str, class_name: str, cap: str, value: str) -> str:
    """
    Return ``text`` with ``cap=value`` set in the class ``class_name`` only.

    An existing field for ``cap`` (``cap=...``, ``cap#...``, ``cap`` or ``cap@``)
    is replaced where it stands; otherwise a field line ``:cap=value:\\`` is
    inserted after the class's first line, indented like the class's next line
    (a one-line record gets the field right after its names). Every other byte
    is kept; setting the value a class already has returns ``text`` unchanged.
    """

    if not _CAP_NAME.match(cap):
        raise ValueError(f"not a capability name: {cap!r}")
    if any(char in value for char in ":\\\n\r"):
        raise ValueError(f"login.conf value may not contain ':', '\\' or newlines: {value!r}")
    record = login_class(text, class_name)
    if record is None:
        raise ValueError(f"no login class {class_name!r}")

    lines = text.splitlines(keepends=True)
    start, end = record.start_line - 1, record.end_line - 1
    field_text = f"{cap}={value}"
    pattern = re.compile(r"(?<=:)\s*" + re.escape(cap) + r"(?:[=#][^:\\]*|@)?(?=\s*(?::|\\?\s*$))")

    for index in range(start, end + 1):
        line = lines[index]
        body = line.rstrip("\r\n")
        offset = body.index(":") + 1 if index == start and ":" in body else 0
        if index == start and ":" not in body:
            continue
        match = pattern.search(body, offset)
        if match:
            leading = match.group(0)[: len(match.group(0)) - len(match.group(0).lstrip())]
            new_body = body[: match.start()] + leading + field_text + body[match.end() :]
            lines[index] = new_body + line[len(body) :]
            return "".join(lines)

    first = lines[start]
    first_body = first.rstrip("\r\n")
    newline = first[len(first_body) :] or "\n"
    if start == end or not first_body.rstrip().endswith("\\"):
        # One-line record: put the field right after the names.
        cut = first_body.index(":") + 1
        lines[start] = first_body[:cut] + field_text + ":" + first_body[cut:] + first[len(first_body) :]
        return "".join(lines)
    following = lines[start + 1]
    indent = following[: len(following) - len(following.lstrip(" \t"))] or "\t"
    lines.insert(start + 1, f"{indent}:{field_text}:\\{newline}")
    return "".join(lines)


class LoginConf(FactBase):
    """
    Returns the login classes of /etc/login.conf.

    .. code:: python

        [LoginClass(names=("default",), capabilities={"memorylocked": "64K", ...},
                    start_line=25, end_line=51), ...]
    """

    default = list

    def command(self) -> str:
        return FileContent().command(LOGIN_CONF)

    def process(self, output: list[str]) -> list[LoginClass]:
        return parse_login_conf(regular_file_text(FileContent().process(output)))
