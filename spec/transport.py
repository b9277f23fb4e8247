"""
The live-migration transport (``xen_migrate_ssh``): what ``xl migrate -s``
gets, and what the pre-flight probe runs, built from one place so they cannot
differ.

xl does not split the transport itself: tools/xl/xl_migrate.c builds the
string ``exec <transport> <host> xl migrate-receive ...`` and runs it with
``sh -c``. So the transport must reach xl as ONE argument, and every word of
it, and the target's address, must mean nothing to sh but a word. Validation
(``check_transport``, ``check_address``) guarantees that; the probe then runs
the same string through the same ``sh -c``, with ``true`` where xl runs
``xl migrate-receive``:

    >>> migrate_transport("ssh -p 2222")
    'ssh -p 2222 -o BatchMode=yes -o ConnectTimeout=10'
    >>> migrate_rune("ssh -p 2222", "xen2")
    'exec ssh -p 2222 -o BatchMode=yes -o ConnectTimeout=10 xen2 xl migrate-receive'
    >>> transport_probe_argv("ssh -p 2222", "xen2")
    ['sh', '-c', 'exec ssh -p 2222 -o BatchMode=yes -o ConnectTimeout=10 xen2 true']

``BatchMode=yes`` is part of the transport itself, not only of the probe: a
password prompt inside ``xl migrate`` would hang the run; with it ssh fails
at once and xl resumes the guest where it was. ssh(1) takes the first value
given for an option, so a ``-o BatchMode=...`` of the admin's comes first and
wins.
"""

from __future__ import annotations

import posixpath
import re

# A word sh reads as itself, with nothing to expand or split: ssh options and
# their values (-p 2222, -i /root/.ssh/migrate, -o Ciphers=aes128-ctr,
# -J jump@host:22).
TRANSPORT_WORD = re.compile(r"\A[A-Za-z0-9_./=:@,+%-]+\Z")
# A host name or address that sh reads as one word and ssh as a host, not an option.
ADDRESS = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9.:_-]*\Z")
ADDRESS_MAX = 253
TRANSPORT_MAX = 1024
# Options the transport always carries, after the admin's own.
TRANSPORT_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10")
# The remote command of the probe, in place of xl's "xl migrate-receive".
PROBE_REMOTE_COMMAND = "true"


def check_transport(value: str) -> str:
    """
    ``xen_migrate_ssh``: an ssh command line, as words separated by single
    spaces, each of them plain (no quotes, ``$``, ``;``, globs or other shell
    syntax): ``ssh``, ``/usr/bin/ssh -p 2222``, ``ssh -i /root/.ssh/migrate``.
    """

    fix = "write ssh followed by plain options, e.g. 'ssh -p 2222' or 'ssh -i /root/.ssh/migrate'"
    if not isinstance(value, str):
        raise ValueError(f"must be a string: {fix}")
    if len(value) > TRANSPORT_MAX:
        raise ValueError(f"is {len(value)} characters long: use at most {TRANSPORT_MAX}")
    words = value.split(" ")
    if "" in words:
        raise ValueError(f"has an empty word (a leading, trailing or double space): {fix}")
    for word in words:
        if not TRANSPORT_WORD.fullmatch(word):
            bad = next(c for c in word if not TRANSPORT_WORD.fullmatch(c))
            raise ValueError(
                f"contains {_describe(bad)}: xl hands the transport to sh, where that is shell syntax "
                f"(quotes, $, ;, |, &, <, >, globs, backslashes and tabs are refused); {fix}",
            )
    program = words[0]
    if program.startswith("-"):
        raise ValueError(f"starts with an option, not a program: {fix}")
    if posixpath.basename(program) != "ssh" or ("/" in program and not program.startswith("/")):
        raise ValueError(
            f"runs {program!r}, not ssh: the probe and xl's migration both need ssh (or an absolute path to it); {fix}",
        )
    return value


def check_address(value: str) -> str:
    """A migration target: a host name or an address that sh and ssh each read as one plain word."""

    if not isinstance(value, str) or not ADDRESS.fullmatch(value) or len(value) > ADDRESS_MAX:
        raise ValueError(
            "is not a host name or address (letters, digits and .:_- only, not starting with - ): "
            "use e.g. xen2.example.org or 192.0.2.12",
        )
    return value


def migrate_transport(ssh_command: str) -> str:
    """The exact string to give ``xl migrate -s`` as ONE argument."""

    check_transport(ssh_command)
    return " ".join((ssh_command, *TRANSPORT_OPTIONS))


def migrate_rune(ssh_command: str, address: str) -> str:
    """What xl itself runs with ``sh -c`` (xl_migrate.c, without its optional -t/-T/-v/-e/-d/-p words)."""

    return f"exec {migrate_transport(ssh_command)} {check_address(address)} xl migrate-receive"


def transport_probe_argv(ssh_command: str, address: str) -> list[str]:
    """
    The pre-flight probe: xl's own ``sh -c`` line with ``true`` for the remote
    command, so it exercises exactly the shell, transport words and address
    that ``xl migrate`` will. Quote each word where the command is built.
    """

    return ["sh", "-c", f"exec {migrate_transport(ssh_command)} {check_address(address)} {PROBE_REMOTE_COMMAND}"]


def _describe(char: str) -> str:
    from .rcvalue import describe_char

    return describe_char(char)
