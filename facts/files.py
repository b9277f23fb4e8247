"""
Reading a file we may write, exactly: its kind as the host reports it, and its
bytes (hex-dumped with od(1) on the host, so no content, however hostile or
binary, can disturb the read's framing or lose a byte on the way).

"absent" means the host said there is nothing at that path (neither a file
nor a dangling link). A directory, a symbolic link or a device where a file is
expected is reported as such, and writing over it is refused.

    from facts.files import FileContent
    read = host.get_fact(FileContent, path="/etc/rc.conf")
    read.text       # 'hostname="xen1"\\n...' (None when absent)
    read.basis      # the sha256 of the bytes read, or "absent": what a write is based on
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

from .sections import ReadError, Section, composite_command, split_sections

FILE = "file"
ABSENT = "absent"
SYMLINK = "symlink"
DIRECTORY = "directory"
OTHER = "other"
KINDS = (FILE, ABSENT, SYMLINK, DIRECTORY, OTHER)

# How each kind is named in messages.
KIND_NAMES = {
    SYMLINK: "a symbolic link",
    DIRECTORY: "a directory",
    OTHER: "not a regular file (a device, socket or fifo)",
}


def read_file_command(path: str) -> str:
    """
    Print the kind of ``path`` on one line, then (for a regular file, or a link
    to one) its bytes as ``od -A n -t x1 -v`` hex. Only a regular file is
    opened: reading a fifo would hang, a device would never end.
    """

    quoted = shlex.quote(path)
    dump = f"od -A n -t x1 -v {quoted}"
    return (
        f"if [ -L {quoted} ]; then echo {SYMLINK}; if [ -f {quoted} ]; then {dump}; fi; "
        f"elif [ -f {quoted} ]; then echo {FILE}; {dump}; "
        f"elif [ -d {quoted} ]; then echo {DIRECTORY}; "
        f"elif [ -e {quoted} ]; then echo {OTHER}; "
        f"else echo {ABSENT}; fi"
    )


@dataclass(frozen=True)
class FileRead:
    """One file as read from the host (or as we wrote it)."""

    path: str
    kind: str
    data: bytes | None = None  # the exact bytes, when the host let us read them

    @classmethod
    def of_text(cls, path: str, text: str | None) -> "FileRead":
        """A regular file holding ``text`` (``None``: absent), e.g. what we have just written."""

        if text is None:
            return cls(path, ABSENT)
        return cls(path, FILE, encode_text(text))

    @property
    def exists(self) -> bool:
        return self.kind != ABSENT

    @property
    def text(self) -> str | None:
        """
        The content as text (``None`` when absent or unreadable). Bytes that are
        not UTF-8 are kept as surrogates, so ``encode_text`` gives them back.
        """

        return None if self.data is None else self.data.decode("utf-8", "surrogateescape")

    @property
    def sha256(self) -> str | None:
        return None if self.data is None else hashlib.sha256(self.data).hexdigest()

    @property
    def basis(self) -> str | None:
        """What a write of this file is based on: the sha256 read, ``"absent"``, or None (not writable)."""

        if self.kind == ABSENT:
            return ABSENT
        return self.sha256 if self.kind == FILE else None

    def write_refusal(self) -> str | None:
        """Why this path must not be replaced by a file (None when it may)."""

        if self.kind in (FILE, ABSENT):
            return None
        return f"{self.path} is {KIND_NAMES[self.kind]}, not a regular file: refusing to replace it"


FILE_SECTION = "file:"


def file_section(path: str) -> str:
    """The name of the section that reads ``path`` in a composite read."""

    return f"{FILE_SECTION}{path}"


def regular_file_text(read: FileRead) -> str:
    """The text of a file that must exist as a regular file (or a link to one); ``ReadError`` otherwise."""

    if read.kind == ABSENT:
        raise ReadError(f"{read.path} does not exist")
    if read.text is None:
        raise ReadError(f"{read.path} is {KIND_NAMES.get(read.kind, read.kind)}, not a regular file")
    return read.text


def encode_text(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def parse_file_section(section: Section | None, path: str) -> FileRead:
    """
    The ``FileRead`` of a section run with ``read_file_command(path)``. Raises
    ``ReadError`` (the host stops) unless the host said clearly what is there.
    """

    if section is None:
        raise ReadError(f"cannot read {path}: the read has no section for it")
    kind, _, dump = section.text.partition("\n")
    if not section.ok:
        detail = " ".join(section.text.split())[:200] or f"exit status {section.rc}"
        raise ReadError(f"cannot read {path}: {detail}")
    if kind not in KINDS:
        raise ReadError(f"cannot read {path}: the host answered {kind[:80]!r}")
    if kind in (FILE, SYMLINK) and (kind == FILE or dump.strip()):
        try:
            data = bytes.fromhex(dump)
        except ValueError:
            raise ReadError(f"cannot read {path}: its dump is not od(1) hex output") from None
        return FileRead(path, kind, data)
    if dump.strip():
        raise ReadError(f"cannot read {path}: unexpected output after {kind!r}")
    return FileRead(path, kind)


class FileContent(FactBase):
    """
    Returns a ``FileRead`` of one file: its kind and exact bytes (``kind ==
    "absent"`` only when the host said nothing is there).

    .. code:: python

        read = host.get_fact(FileContent, path="/boot/loader.conf")
        read.text, read.sha256
    """

    def command(self, path: str) -> str:
        return composite_command({file_section(path): read_file_command(path)})

    def process(self, output: list[str]) -> FileRead:
        sections = split_sections(output)
        if len(sections) != 1:
            raise ReadError("the file read answered with more than one section")
        name, section = next(iter(sections.items()))
        return parse_file_section(section, name[len(FILE_SECTION):])
