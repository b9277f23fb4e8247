"""Count SSH requests from an OpenSSH sshd log written with ``LogLevel VERBOSE``.

At VERBOSE, sshd logs one line per session channel that runs something
(session.c, do_exec()):

    Starting session: command for root from 127.0.0.1 port 34348 id 0
    Starting session: subsystem 'sftp' for root from 127.0.0.1 port 34348 id 0

so counting them at the server counts every exec request the client made, with
the real pyinfra CLI and nothing patched on the client side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_SESSION = re.compile(r"Starting session: (command|subsystem '([^']*)'|shell|forced-command)")
_CONNECTION = re.compile(r"Accepted publickey for ")


@dataclass(frozen=True)
class Requests:
    exec: int = 0  # "exec" channel requests: remote shell commands
    sftp: int = 0  # sftp subsystem sessions (uploads/downloads)
    other: int = 0  # shells, other subsystems
    connections: int = 0  # authenticated SSH connections

    @property
    def total(self) -> int:
        return self.exec + self.sftp + self.other

    def __add__(self, other: "Requests") -> "Requests":
        return Requests(self.exec + other.exec, self.sftp + other.sftp,
                        self.other + other.other, self.connections + other.connections)


def count_requests(log_text: str) -> Requests:
    """Exec requests, sftp sessions, other sessions and connections in a chunk of sshd log."""
    exec_ = sftp = other = 0
    for m in _SESSION.finditer(log_text):
        if m.group(1) == "command":
            exec_ += 1
        elif m.group(2) == "sftp":
            sftp += 1
        else:
            other += 1
    return Requests(exec_, sftp, other, len(_CONNECTION.findall(log_text)))


class LogCursor:
    """Remembers where a growing log file ended, to read only what a run appended."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.offset = self._size()

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def read_new(self) -> str:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return data.decode("utf-8", "replace")
