"""
Commands built from words, each word quoted where the command is built.

pyinfra's ``StringCommand("zfs", "create", name)`` joins its bits with spaces
and quotes none of them: a word from host data with a space, a ``;`` or a
leading ``-`` would be read by the remote shell as something else. Every
command of this project that carries a word from host data or from a host's
own output is built here, so validation is never the only thing between a
value and the shell.

    from operations.commands import argv
    yield argv("zfs", "create", "-V", disk.size, disk.zvol)
    # zfs create -V 20G 'zroot/xen/my disk'
"""

from __future__ import annotations

import shlex

from pyinfra.api import QuoteString, StringCommand


def argv(*words: object) -> StringCommand:
    """A command whose every word reaches the program as exactly one argument."""

    return StringCommand(*(QuoteString(str(word)) for word in words))


def shell_words(*words: object) -> str:
    """The same as one string, for commands that are joined with ``&&``/``||`` into a script."""

    return " ".join(shlex.quote(str(word)) for word in words)
