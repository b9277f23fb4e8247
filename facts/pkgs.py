"""
Installed packages from pkg(8).

.. code:: python

    from facts.pkgs import XenPackages
"""

from __future__ import annotations

from pyinfra.api import FactBase

PKG_QUERY_COMMAND = "pkg query '%n %v'"


def parse_pkg_query(text: str) -> dict[str, str]:
    """
    Parse ``pkg query '%n %v'`` output (``name version`` per line) into
    ``{name: version}``. Lines that are not two words are ignored.
    """

    packages: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        packages[parts[0]] = parts[1]
    return packages


class XenPackages(FactBase):
    """
    Returns the installed packages whose name starts with ``xen-``.

    .. code:: python

        {"xen-kernel": "4.18.0", "xen-tools": "4.18.0_1"}
    """

    default = dict

    def command(self) -> str:
        return PKG_QUERY_COMMAND

    def requires_command(self) -> str:
        return "pkg"

    def process(self, output: list[str]) -> dict[str, str]:
        return {
            name: version
            for name, version in parse_pkg_query("\n".join(output)).items()
            if name.startswith("xen-")
        }
