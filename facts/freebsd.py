"""
FreeBSD base-system facts: sysctl values and the release version.

.. code:: python

    from facts.freebsd import Sysctl
"""

from __future__ import annotations

import re
import shlex

from pyinfra.api import FactBase

_VERSION = re.compile(r"^\s*(\d+)\.(\d+)(?:-[A-Za-z0-9_.-]+)?\s*$")


def parse_sysctl(text: str) -> dict[str, str]:
    """
    Parse ``sysctl -e name ...`` output: one ``name=value`` per line, split at the
    first ``=`` (values may contain ``=``). Lines without ``=`` (error messages
    such as ``sysctl: unknown oid 'x'``) are ignored.
    """

    values: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name or " " in name:
            continue
        values[name] = value.strip()
    return values


def parse_freebsd_version(text: str) -> tuple[int, int]:
    """
    ``14.1-RELEASE-p5``, ``13.2-STABLE``, ``15.0-CURRENT`` (``uname -r`` or
    ``freebsd-version``) -> ``(major, minor)``.
    """

    match = _VERSION.match(text.strip().splitlines()[0] if text.strip() else "")
    if not match:
        raise ValueError(f"not a FreeBSD release: {text.strip()!r}")
    return int(match.group(1)), int(match.group(2))


def sysctl_command(names) -> str:
    """``sysctl -e -i`` of these oids (``-i``: unknown oids such as ``vm.max_wired`` on 13+ are skipped)."""

    return "sysctl -e -i " + " ".join(shlex.quote(name) for name in names)


class Sysctl(FactBase):
    """
    Returns the values of the named sysctl oids; unknown oids are left out
    (``-i``: ``vm.max_wired`` no longer exists on FreeBSD 13+).

    .. code:: python

        {"hw.ncpu": "8", "kern.vm_guest": "xen"}
    """

    default = dict

    def command(self, names: list[str]) -> str:
        return sysctl_command(names)

    def process(self, output: list[str]) -> dict[str, str]:
        return parse_sysctl("\n".join(output))
