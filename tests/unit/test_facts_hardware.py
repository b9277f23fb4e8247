"""facts/hardware.py on real FreeBSD boot messages (sources: tests/fixtures/outputs/SOURCES.md)."""

from pathlib import Path

from facts.dom0 import dom0_commands
from facts.hardware import (
    DMESG_CPU_COMMAND,
    AcpiTables,
    CpuVirtualisation,
    DmesgCpuVirtualisation,
    has_iommu,
    parse_acpidump_tables,
    parse_dmesg_virtualisation,
)

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"


def fixture(name: str) -> str:
    return (OUT / name).read_text()


def test_intel_with_ept():
    assert parse_dmesg_virtualisation(fixture("dmesg.atom_c2758_ept.txt")) == CpuVirtualisation(
        vendor="intel", hvm=True, slat=True, disabled_in_bios=False, raw="VT-x: PAT,HLT,MTF,PAUSE,EPT,UG,VPID",
    )


def test_intel_vtx_disabled_in_bios():
    assert parse_dmesg_virtualisation(fixture("dmesg.boot.kvm_vtx_disabled")) == CpuVirtualisation(
        vendor="intel",
        hvm=False,
        slat=True,
        disabled_in_bios=True,
        raw="VT-x: (disabled in BIOS) PAT,HLT,PAUSE,EPT,UG",
    )


def test_intel_without_vmx():
    assert parse_dmesg_virtualisation(fixture("dmesg.boot.veertu_no_vmx")) == CpuVirtualisation(
        vendor="intel", hvm=False, slat=False, disabled_in_bios=False, raw="",
    )


def test_amd_with_svm_and_nested_paging():
    # The "Hypervisor:"-free EPYC report; AMD Features2 lists SVM, the SVM: line NP.
    assert parse_dmesg_virtualisation(fixture("dmesg.epyc_7502p_svm.txt")) == CpuVirtualisation(
        vendor="amd",
        hvm=True,
        slat=True,
        disabled_in_bios=False,
        raw="SVM: NP,NRIP,VClean,AFlush,DAssist,NAsids=32768",
    )


def test_amd_without_svm():
    assert parse_dmesg_virtualisation(fixture("dmesg.ryzen7_no_svm.txt")) == CpuVirtualisation(
        vendor="amd", hvm=False, slat=False, disabled_in_bios=False, raw="",
    )


def test_hypervisor_origin_line_is_not_the_cpu_vendor():
    # dmesg.boot.kvm_vtx_disabled has 'Hypervisor: Origin = "KVMKVMKVM"' after the CPU block.
    assert parse_dmesg_virtualisation(fixture("dmesg.boot.kvm_vtx_disabled")).vendor == "intel"


def test_last_boot_counts():
    enabled = fixture("dmesg.atom_c2758_ept.txt")
    disabled = fixture("dmesg.boot.kvm_vtx_disabled")
    none = fixture("dmesg.boot.veertu_no_vmx")
    amd = fixture("dmesg.epyc_7502p_svm.txt")
    assert parse_dmesg_virtualisation(enabled + disabled).disabled_in_bios is True
    assert parse_dmesg_virtualisation(disabled + none) == CpuVirtualisation("intel", False, False, False, "")
    # The EPYC excerpt starts with syslog's ---<<BOOT>>--- marker.
    assert parse_dmesg_virtualisation(disabled + amd).vendor == "amd"
    assert parse_dmesg_virtualisation(amd + none).vendor == "intel"


def test_grepped_lines_as_the_dom0_read_sends_them():
    # facts/dom0.py sends only: grep -E 'Origin=|Features2=|VT-x:|SVM:' /var/run/dmesg.boot
    lines = [
        line
        for line in (fixture("dmesg.boot.kvm_vtx_disabled") + fixture("dmesg.atom_c2758_ept.txt")).splitlines()
        if any(key in line for key in ("Origin=", "Features2=", "VT-x:", "SVM:"))
    ]
    result = parse_dmesg_virtualisation("\n".join(lines))
    assert result == CpuVirtualisation("intel", True, True, False, "VT-x: PAT,HLT,MTF,PAUSE,EPT,UG,VPID")


def test_syslog_prefixed_lines():
    text = (
        'Oct 26 00:23:11 forward kernel:   Origin="GenuineIntel"  Id=0x306e4  Family=0x6  Model=0x3e  Stepping=4\n'
        "Oct 26 00:23:11 forward kernel:   VT-x: PAT,HLT,MTF,PAUSE,EPT,UG,VPID,VID,PostIntr\n"
    )
    result = parse_dmesg_virtualisation(text)
    assert (result.vendor, result.hvm, result.slat) == ("intel", True, True)
    assert result.raw == "VT-x: PAT,HLT,MTF,PAUSE,EPT,UG,VPID,VID,PostIntr"


def test_vtx_without_ept():
    text = '  Origin="GenuineIntel"  Id=0x6fb\n  VT-x: HLT,PAUSE\n'
    assert parse_dmesg_virtualisation(text) == CpuVirtualisation("intel", True, False, False, "VT-x: HLT,PAUSE")


def test_missing_file_reads_as_no_support():
    assert parse_dmesg_virtualisation("") == CpuVirtualisation(None, False, False, False, "")


def test_acpidump_tables_intel():
    tables = parse_acpidump_tables(fixture("acpidump_t.format_dmar.txt"))
    assert tables == frozenset({"XSDT", "FACP", "DSDT", "APIC", "HPET", "MCFG", "SSDT", "DMAR"})
    assert has_iommu(tables)


def test_acpidump_tables_amd_and_none():
    ivrs = parse_acpidump_tables(fixture("acpidump_t.format_ivrs.txt"))
    assert "IVRS" in ivrs and "DMAR" not in ivrs and has_iommu(ivrs)
    none = parse_acpidump_tables(fixture("acpidump_t.format_no_iommu.txt"))
    assert "DMAR" not in none and not has_iommu(none)
    assert "RSD " not in none and "RSD PTR" not in none


def test_acpidump_usage_error_has_no_tables():
    assert parse_acpidump_tables("usage: acpidump [-d] [-t] [-h] [-v] [-f dsdt_input] [-o dsdt_output]\n") == frozenset()


def test_has_iommu():
    assert has_iommu({"DMAR"}) and has_iommu(frozenset({"IVRS"}))
    assert not has_iommu(frozenset({"APIC", "FACP"}))


def test_fact_commands_and_process():
    # The same command as the composite read's (one read per concern).
    assert DmesgCpuVirtualisation().command() == f"{DMESG_CPU_COMMAND} || test $? -eq 1"
    assert dom0_commands()["cpu"].count(DMESG_CPU_COMMAND) == 1
    assert DmesgCpuVirtualisation().process(fixture("dmesg.epyc_7502p_svm.txt").splitlines()).slat is True
    assert AcpiTables().command() == "acpidump -t"
    assert "acpidump -t" in dom0_commands()["acpi"]
    assert "DMAR" in AcpiTables().process(fixture("acpidump_t.format_dmar.txt").splitlines())
