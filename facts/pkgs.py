"""
Installed packages from pkg(8).

.. code:: python

    from facts.pkgs import XenPackages
"""

from __future__ import annotations

from pyinfra.api import FactBase

PKG_QUERY_COMMAND = "pkg query '%n %v'"

# pkg(7): a fresh FreeBSD has only /usr/sbin/pkg, the bootstrapper, which installs pkg
# itself at ${LOCALBASE}/sbin/pkg on first use. It tests exactly that path (pkg.c main(),
# access(pkgpath, X_OK)), and so does this read: without it, nothing is installed, and
# the host said so. The exit status says it, not a message.
PKG_PATH = "/usr/local/sbin/pkg"
PKG_NOT_BOOTSTRAPPED = 45
PKG_READ_COMMAND = f"if [ -x {PKG_PATH} ]; then {PKG_QUERY_COMMAND}; else (exit {PKG_NOT_BOOTSTRAPPED}); fi"


def parse_pkg_query(text: str) -> dict[str, str]:
    """
    Parse ``pkg query '%n %v'`` output (``name version`` per line) into
    ``{name: version}``. A line that is not two words is an error
    (ValueError): a package the parser skipped would be taken for missing.
    """

    packages: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"unexpected pkg query line: {line[:200]!r}")
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
