"""
Which values may be written into an rc-style file (/etc/rc.conf,
/boot/loader.conf): one rule, used by validation and by the writer.

rc.conf is shell: /etc/rc sources it (``load_rc_config`` in
libexec/rc/rc.subr), and rc.subr and network.subr then expand its values
unquoted and through ``eval`` (``run_rc_command`` evals
``$command $rc_flags $command_args``; ``get_if_var`` evals
``echo \\${ifconfig_IF}``; ``ifconfig_up`` splits the words of
``ifconfig_IF``). So a value is safe only when no character of it means
anything to sh, inside double quotes, unquoted, or re-read by ``eval``:
not ``; | & < > ( ) $`` backquote, quotes, backslash, newline, nor glob
characters (``* ? [ ]``), ``#`` (a comment when eval reads it), ``~``,
``!``, ``{ }``, tabs, control or non-ASCII characters. loader.conf's
parsers (the Lua and Forth loaders) end a value at its quote, so the same
rule holds there. Rather than list what is unsafe, this lists what is safe:

    >>> rc_unsafe_char("inet 192.0.2.10/24") is None
    True
    >>> rc_unsafe_char("inet6 fe80::1%;reboot;/64")
    ';'
    >>> check_rc_value("ifconfig_bridge0", "addm em0 $(reboot)")
    Traceback (most recent call last):
    ...
    ValueError: ifconfig_bridge0 cannot be written to an rc file: it contains '$', which rc's eval reads as shell syntax; use letters, digits, spaces and _.,/:=+@%- only
"""

from __future__ import annotations

import re

# Letters, digits, the space (rc splits words on it, which is what ifconfig_IF
# and xendomains_list mean) and punctuation sh never interprets.
RC_SAFE_CHAR = re.compile(r"[A-Za-z0-9 _.,/:=+@%-]")
RC_SAFE_DESCRIPTION = "letters, digits, spaces and _.,/:=+@%- only"

_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\0": "a NUL byte"}


def rc_unsafe_char(value: str) -> str | None:
    """The first character of ``value`` that sh (or rc's eval) could read as syntax, or None."""

    if not isinstance(value, str):
        raise TypeError(f"an rc value must be a string, not {type(value).__name__}")
    return next((char for char in value if not RC_SAFE_CHAR.fullmatch(char)), None)


def describe_char(char: str) -> str:
    if char in _NAMES:
        return _NAMES[char]
    if not char.isprintable() or not char.isascii():
        return f"the character U+{ord(char):04X}"
    return repr(char)


def check_rc_value(key: str, value: str) -> str:
    """``value`` unchanged when it can be written as ``key="value"`` in an rc file; else ``ValueError``.

    The message names the key and the offending character, never the value
    itself (a caller's value may be a secret).
    """

    bad = rc_unsafe_char(value)
    if bad is not None:
        raise ValueError(
            f"{key} cannot be written to an rc file: it contains {describe_char(bad)}, which rc's eval reads "
            f"as shell syntax; use {RC_SAFE_DESCRIPTION}",
        )
    return value
