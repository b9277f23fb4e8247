"""
Hardware facts a Xen Dom0 depends on: CPU virtualisation (VT-x/EPT, SVM/NPT) as
the FreeBSD kernel reported it at boot, and the IOMMU's ACPI tables.

.. code:: python

    from facts.hardware import DmesgCpuVirtualisation, AcpiTables, has_iommu
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyinfra.api import FactBase

DMESG_BOOT = "/var/run/dmesg.boot"
# The lines the parser needs (vendor, features, VT-x/SVM), not the whole boot log.
DMESG_CPU_COMMAND = f"grep -E 'Origin=|Origin =|Features2=|VT-x:|SVM:' {DMESG_BOOT}"
ACPI_TABLES_COMMAND = "acpidump -t"

VENDORS = {"GenuineIntel": "intel", "AuthenticAMD": "amd", "HygonGenuine": "amd"}

# A new boot in dmesg.boot or /var/log/messages: the kernel banner or syslog's marker.
_BOOT_START = re.compile(r"(?:^|\s)(?:---<<BOOT>>---|Copyright \(c\) 1992-\d{4} The FreeBSD Project\.)")
# The CPU's vendor line (not "Hypervisor: Origin = ..."): `  Origin="GenuineIntel"  Id=...`
# (old kernels print `Origin = "GenuineIntel"  Id = ...`), possibly behind a syslog prefix.
_ORIGIN = re.compile(r'(?:^|kernel:)\s*Origin\s*=\s*"([^"]+)"')
_VTX = re.compile(r"(?:^|\s)(VT-x:.*?)\s*$")
_SVM_LINE = re.compile(r"(?:^|\s)(SVM:.*?)\s*$")
_AMD_FEATURES2 = re.compile(r"AMD Features2=0x[0-9a-fA-F]+<([^>]*)>")
_DISABLED = "(disabled in BIOS)"

_ACPI_TABLE = re.compile(r"^\s{0,2}([A-Za-z0-9_!]{4}): Length=\d+")


@dataclass(frozen=True)
class CpuVirtualisation:
    vendor: str | None  # "intel", "amd" or None when dmesg names no CPU vendor
    hvm: bool  # VT-x or SVM present and not disabled by the firmware
    slat: bool  # the CPU lists EPT (Intel) or NP (AMD nested paging)
    disabled_in_bios: bool
    raw: str  # the "VT-x: ..." or "SVM: ..." line as printed, "" if none


def _last_boot(lines: list[str]) -> list[str]:
    starts = [index for index, line in enumerate(lines) if _BOOT_START.search(line)]
    if starts:
        lines = lines[starts[-1]:]
    # Within a boot the CPU block may be printed again (e.g. after a microcode
    # update); and grep'ed input has no banner: the last Origin= block counts.
    origins = [index for index, line in enumerate(lines) if _ORIGIN.search(line)]
    if origins:
        lines = lines[origins[-1]:]
    return lines


def _features(line: str) -> set[str]:
    _, _, rest = line.partition(":")
    rest = rest.replace(_DISABLED, " ")
    return {word.split("=")[0].strip() for word in re.split(r"[,\s]+", rest) if word.strip()}


def parse_dmesg_virtualisation(dmesg_boot_text: str) -> CpuVirtualisation:
    """
    Read CPU virtualisation support from FreeBSD's boot messages (dmesg.boot, or
    just its ``Origin=``/``Features2=``/``VT-x:``/``SVM:`` lines). Intel reports
    ``VT-x: PAT,HLT,MTF,PAUSE,EPT,UG,VPID`` (``VT-x: (disabled in BIOS) ...`` when
    the firmware locked VMX off); AMD lists ``SVM`` in ``AMD Features2=<...>`` and
    prints ``SVM: NP,NRIP,...``. When the text holds several boots, the last counts.
    """

    lines = _last_boot(dmesg_boot_text.splitlines())
    vendor = None
    vtx_line = svm_line = ""
    amd_svm_flag = False
    for line in lines:
        origin = _ORIGIN.search(line)
        if origin:
            vendor = VENDORS.get(origin.group(1), vendor)
            continue
        vtx = _VTX.search(line)
        if vtx:
            vtx_line = vtx.group(1)
            continue
        svm = _SVM_LINE.search(line)
        if svm:
            svm_line = svm.group(1)
            continue
        features2 = _AMD_FEATURES2.search(line)
        if features2:
            amd_svm_flag = "SVM" in features2.group(1).split(",")

    if vendor == "amd" or (vendor is None and (svm_line or amd_svm_flag)):
        disabled = _DISABLED in svm_line
        present = amd_svm_flag or bool(svm_line)
        return CpuVirtualisation(
            vendor=vendor,
            hvm=present and not disabled,
            slat=present and "NP" in _features(svm_line),
            disabled_in_bios=disabled,
            raw=svm_line,
        )
    disabled = _DISABLED in vtx_line
    return CpuVirtualisation(
        vendor=vendor,
        hvm=bool(vtx_line) and not disabled,
        slat=bool(vtx_line) and "EPT" in _features(vtx_line),
        disabled_in_bios=disabled,
        raw=vtx_line,
    )


def parse_acpidump_tables(text: str) -> frozenset[str]:
    """
    The ACPI table signatures in ``acpidump -t`` output, from the header each
    table's comment block starts with (``  DMAR: Length=328, Revision=1, ...``).
    The ``RSD PTR`` block is not a table and is left out.
    """

    tables = set()
    for line in text.splitlines():
        match = _ACPI_TABLE.match(line)
        if match:
            tables.add(match.group(1))
    return frozenset(tables)


def has_iommu(tables: frozenset[str] | set[str]) -> bool:
    """An IOMMU is described by Intel's DMAR (VT-d) or AMD's IVRS (AMD-Vi) table."""

    return "DMAR" in tables or "IVRS" in tables


class DmesgCpuVirtualisation(FactBase):
    """
    Returns the CPU's virtualisation support as the kernel reported it at boot
    (``/var/run/dmesg.boot``; a missing file reads as no support).

    .. code:: python

        CpuVirtualisation(vendor="intel", hvm=True, slat=True, disabled_in_bios=False,
                          raw="VT-x: PAT,HLT,MTF,PAUSE,EPT,UG,VPID")
    """

    def command(self) -> str:
        # grep finds nothing (status 1) on a CPU without these lines: that is an answer.
        return f"{DMESG_CPU_COMMAND} || test $? -eq 1"

    def process(self, output: list[str]) -> CpuVirtualisation:
        return parse_dmesg_virtualisation("\n".join(output))


class AcpiTables(FactBase):
    """
    Returns the signatures of the ACPI tables the running kernel sees
    (``acpidump -t``); under Xen, Dom0 does not see DMAR/IVRS.

    .. code:: python

        frozenset({"FACP", "DSDT", "APIC", "MCFG", "DMAR"})
    """

    default = frozenset

    def command(self) -> str:
        return ACPI_TABLES_COMMAND

    def requires_command(self) -> str:
        return "acpidump"

    def process(self, output: list[str]) -> frozenset[str]:
        return parse_acpidump_tables("\n".join(output))
