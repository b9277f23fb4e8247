"""Hardware/OS variants a simulated FreeBSD host can be built from.

A `Variant` is the *machine* (CPU vendor and features, firmware, memory) plus the
*installed OS* (FreeBSD release, architecture, stock config files).  Everything the
fake tools report (uname, sysctl, dmesg.boot, acpidump, pkg repository, ...) is
derived from it when the host is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Variant:
    name: str
    freebsd: str  # e.g. "14.1-RELEASE"
    arch: str = "amd64"  # "i386" is refused by the deploy (Xen needs amd64)
    cpu_vendor: str = "intel"  # "intel" or "amd"
    slat: bool = True  # Intel EPT / AMD NP (a PVH Dom0 needs it)
    virt_disabled_in_bios: bool = False  # VT-x / SVM switched off in firmware
    iommu: bool = True  # DMAR (Intel) or IVRS (AMD) ACPI table present
    boot_method: str = "BIOS"  # or "UEFI" (machdep.bootmethod)
    ttys: str = "freebsd14"  # stock /etc/ttys flavour: "freebsd14" has xc0, "freebsd11" not
    login_conf_customised: bool = False  # default class edited + a custom class added
    memory_mib: int = 16384
    ncpus: int = 8
    interfaces: tuple[str, ...] = field(default=("em0",))
    # The Xen of the ports' unversioned xen-kernel/xen-tools in this release's
    # package repository (FreeBSD 11 has only xen-kernel47/xen-tools47).
    xen_ports: str = "4.19"
    # pkg(8) installed already; a fresh FreeBSD has only /usr/sbin/pkg, the bootstrapper
    pkg_bootstrapped: bool = False

    @property
    def major(self) -> int:
        """FreeBSD major version (11, 12, ...)."""
        return int(self.freebsd.split(".", 1)[0])

    @property
    def wired_sysctl(self) -> str:
        """The wired-memory limit knob: renamed vm.max_wired -> vm.max_user_wired in 13."""
        return "vm.max_user_wired" if self.major >= 13 else "vm.max_wired"


_BASE = Variant(name="freebsd14", freebsd="14.1-RELEASE")


def _v(name: str, **kw) -> Variant:
    return replace(_BASE, name=name, **kw)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        _v("freebsd11-xen47", freebsd="11.4-RELEASE", ttys="freebsd11"),
        _v("freebsd12", freebsd="12.4-RELEASE"),
        _v("freebsd13", freebsd="13.2-RELEASE"),
        _v("freebsd14"),
        # Today's releases with the ports' current Xen (emulators/xen-kernel 4.21).
        _v("freebsd14-xen421", freebsd="14.3-RELEASE", xen_ports="4.21"),
        _v("freebsd15", freebsd="15.0-RELEASE", xen_ports="4.21"),
        _v("amd", cpu_vendor="amd"),
        _v("no-slat", slat=False),
        _v("virt-disabled", virt_disabled_in_bios=True),
        _v("no-iommu", iommu=False),
        _v("uefi13", freebsd="13.2-RELEASE", boot_method="UEFI"),
        _v("uefi14", boot_method="UEFI"),
        _v("ttys-without-xc0", ttys="freebsd11"),
        # a host its admin has used for a while: login.conf edited, pkg bootstrapped
        _v("login-customised", login_conf_customised=True, pkg_bootstrapped=True),
        _v("i386", arch="i386"),
    )
}


def get_variant(name_or_variant: str | Variant) -> Variant:
    """Accept a Variant or the name of one in VARIANTS (KeyError lists the known names)."""
    if isinstance(name_or_variant, Variant):
        return name_or_variant
    try:
        return VARIANTS[name_or_variant]
    except KeyError:
        raise KeyError(
            f"unknown simhost variant {name_or_variant!r}; known: {', '.join(sorted(VARIANTS))}"
        ) from None
