"""
The Xen hypervisor command line (``xen_cmdline`` in /boot/loader.conf).
"""

from __future__ import annotations

import re

from .versions import XenRelease

SIZE_PATTERN = re.compile(r"\A([1-9][0-9]*)([MG])\Z")

# Options this project sets from host data; overriding them through
# xen_cmdline_extra would make the verification after boot meaningless.
MANAGED_OPTIONS = {
    "dom0_mem": "xen_dom0_mem",
    "dom0_max_vcpus": "xen_dom0_max_vcpus",
    "dom0": "xen_version",
    "dom0pvh": "xen_version",
    "console": "xen_console",
    "com1": "xen_serial",
    "com2": "xen_serial",
    "loglvl": "xen_loglvl",
    "guest_loglvl": "xen_guest_loglvl",
}


def size_to_mib(size: str) -> int:
    """``"8192M"`` -> 8192, ``"8G"`` -> 8192."""

    match = SIZE_PATTERN.match(size)
    if not match:
        raise ValueError(f"{size!r} is not a size like 8192M or 8G")
    number, unit = int(match.group(1)), match.group(2)
    return number * 1024 if unit == "G" else number


def build_cmdline(
    release: XenRelease,
    dom0_mem: str,
    dom0_max_vcpus: int,
    console: str,
    serial: str,
    loglvl: str,
    guest_loglvl: str,
    extra: str = "",
) -> str:
    """
    The handbook's order: memory and vCPUs, the PVH switch, console, serial port,
    log levels, then the user's extra words.

    >>> from spec.versions import xen_release
    >>> build_cmdline(xen_release(None), "8192M", 4, "com1,vga", "com1=115200,8n1", "all", "all")
    'dom0_mem=8192M dom0_max_vcpus=4 dom0=pvh console=com1,vga com1=115200,8n1 guest_loglvl=all loglvl=all'
    """

    words = [f"dom0_mem={dom0_mem}", f"dom0_max_vcpus={dom0_max_vcpus}"]
    words.extend(release.pvh_options)
    if console:
        words.append(f"console={console}")
    if serial:
        words.append(serial)
    words.append(f"guest_loglvl={guest_loglvl}")
    words.append(f"loglvl={loglvl}")
    words.extend(extra.split())
    return " ".join(words)


def option_name(word: str) -> str:
    return word.split("=", 1)[0]
