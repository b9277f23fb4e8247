"""
The Xen/FreeBSD support matrix: which packages provide which Xen, which FreeBSD
releases they run on, and how each wants to be booted.

Sources: the FreeBSD Handbook's Xen chapter (current text: ``dom0=pvh``; the text
of the Xen 4.7 era: ``dom0pvh=1``, ``hw.pci.mcfg=0`` and the ``xen.4th`` menu) and
the FreeBSD ports tree (emulators/xen-kernel47, xen-kernel411, xen-kernel).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

VERSION_PATTERN = re.compile(r"\A4\.([0-9]{1,2})\Z")


@dataclass(frozen=True)
class XenRelease:
    """How one requested Xen version maps onto FreeBSD packages and boot settings."""

    requested: str | None
    kernel_package: str
    tools_package: str
    # Words that make Xen start FreeBSD as a PVH Dom0 (FreeBSD has no PV Dom0).
    pvh_options: tuple[str, ...]
    # Extra loader.conf tunables this Xen needs.
    loader_tunables: dict[str, str] = field(default_factory=dict)
    # Only the 4.7 packages ship /boot/xen.4th (the boot menu entry).
    ships_boot_menu: bool = False
    min_freebsd: int = 12
    max_freebsd: int | None = None

    @property
    def packages(self) -> tuple[str, str]:
        return (self.kernel_package, self.tools_package)

    @property
    def label(self) -> str:
        return f"Xen {self.requested}" if self.requested else "Xen (current packages)"

    def supports_freebsd(self, major: int) -> bool:
        if major < self.min_freebsd:
            return False
        return self.max_freebsd is None or major <= self.max_freebsd

    def supported_freebsd_text(self) -> str:
        if self.max_freebsd == self.min_freebsd:
            return f"FreeBSD {self.min_freebsd}.x"
        return f"FreeBSD {self.min_freebsd} or later"


XEN_47 = XenRelease(
    requested="4.7",
    kernel_package="xen-kernel47",
    tools_package="xen-tools47",
    pvh_options=("dom0pvh=1",),
    loader_tunables={"hw.pci.mcfg": "0"},
    ships_boot_menu=True,
    min_freebsd=11,
    max_freebsd=11,
)

XEN_411 = XenRelease(
    requested="4.11",
    kernel_package="xen-kernel411",
    tools_package="xen-tools411",
    pvh_options=("dom0=pvh",),
)


def xen_release(version: str | None) -> XenRelease:
    """
    The release for a ``xen_version`` value: "4.7", "4.11", any later "4.N", or
    ``None`` for today's unversioned packages. Raises ``ValueError`` otherwise.
    """

    if version is None:
        return XenRelease(None, "xen-kernel", "xen-tools", ("dom0=pvh",))
    match = VERSION_PATTERN.match(version)
    if not match:
        raise ValueError(f"{version!r} is not a Xen version like 4.19")
    minor = int(match.group(1))
    if minor == 7:
        return XEN_47
    if minor == 11:
        return XEN_411
    if minor > 11:
        return XenRelease(version, "xen-kernel", "xen-tools", ("dom0=pvh",))
    raise ValueError(
        f"Xen {version} was never packaged for FreeBSD: use 4.7 (FreeBSD 11), "
        "4.11, or a later 4.x (the current xen-kernel/xen-tools packages)",
    )


def is_xen_package(name: str) -> bool:
    return name.startswith(("xen-kernel", "xen-tools"))


# xl.cfg settings that a Xen release removed: (key, value or None for any value,
# the first Xen without it, why and what to write instead). From each release's
# CHANGELOG.md and xl_parse.c.
REMOVED_XL_SETTINGS: tuple[tuple[str, str | None, tuple[int, int], str], ...] = (
    (
        "device_model_version",
        "qemu-xen-traditional",
        (4, 21),
        "Xen 4.21 removed qemu-xen-traditional (CHANGELOG: \"Support of qemu-traditional has been removed\"; "
        "its xl answers 'Unknown device_model_version'): use \"qemu-xen\" or leave the key out",
    ),
)


def removed_xl_settings(settings: dict[str, object], xen: tuple[int, int]) -> list[str]:
    """
    What in ``settings`` (xl.cfg keys and values) Xen ``xen`` (``(major, minor)``)
    no longer accepts, each as "key = value: reason".
    """

    problems = []
    for key, value, since, reason in REMOVED_XL_SETTINGS:
        if key in settings and tuple(xen) >= since and (value is None or settings[key] == value):
            problems.append(f"{key} = {settings[key]!r}: {reason}")
    return problems


# FreeBSD releases past their end of life (the FreeBSD security team's dates):
# they keep working with this project, and a run says so.
FREEBSD_END_OF_LIFE = {11: "2021-09-30", 12: "2023-12-31", 13: "2026-04-30"}


def end_of_life_note(release: str, major: int | None, today: str) -> str | None:
    """
    What to tell the admin of a Dom0 whose FreeBSD (``release``, e.g.
    "13.2-RELEASE") is past its end of life on ``today`` (ISO date), or None.
    """

    end = FREEBSD_END_OF_LIFE.get(major) if major is not None else None
    if end is None or today < end:
        return None
    return (
        f"FreeBSD {release} reached its end of life on {end}: it keeps working here, but gets no "
        "security fixes; upgrade to FreeBSD 14 or 15"
    )
