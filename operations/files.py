"""
Writing whole files on the host so that a failure never leaves half a file.

    yield from atomic_write_commands("/boot/loader.conf", new_text, existed=True)
"""

from __future__ import annotations

import posixpath
import shlex
from io import BytesIO

from pyinfra.api import FileUploadCommand, StringCommand

from .state import record
from .steps import noop


def staging_path(path: str) -> str:
    directory, name = posixpath.split(path)
    return posixpath.join(directory, f".{name}.pyinfra-new")


def backup_path(path: str) -> str:
    return f"{path}.bak"


def install_command(path: str, mode: str, existed: bool, backup: bool = True) -> str:
    """
    Move the staged file into place: chmod it, keep a copy of the old file as
    ``<path>.bak``, then rename(2) over the old one (atomic in one directory).
    """

    staged, target = shlex.quote(staging_path(path)), shlex.quote(path)
    steps = [f"chmod {mode} {staged}"]
    if existed and backup:
        steps.append(f"cp -p {target} {shlex.quote(backup_path(path))}")
    steps.append(f"mv -f {staged} {target}")
    # A failed step must not leave the staged copy behind.
    return "( " + " && ".join(steps) + f" ) || {{ rm -f {staged}; exit 1; }}"


def atomic_write_commands(path: str, content: str, existed: bool, mode: str = "644", backup: bool = True):
    """
    Commands that replace ``path`` with ``content``. The content travels over
    SFTP, never on a command line, so secrets stay out of logs and ``ps``.
    """

    yield FileUploadCommand(BytesIO(content.encode()), staging_path(path))
    yield StringCommand(install_command(path, mode, existed, backup))


def normalised(text: str | None) -> str:
    if not text:
        return ""
    return "\n".join(text.splitlines()) + "\n"


def write_if_changed(current, path: str, new: str, reason: str, mode: str = "644"):
    """
    Yield an atomic write of ``new`` unless ``current`` (a composite read with
    a ``files`` dict) already has it, and record the new content in it.
    Returns whether it wrote.
    """

    old = current.file(path)
    if normalised(old) == normalised(new):
        noop(f"{path} {reason}")
        return False
    yield from atomic_write_commands(path, new, existed=old is not None, mode=mode)
    yield record(lambda: current.files.__setitem__(path, new))
    return True
