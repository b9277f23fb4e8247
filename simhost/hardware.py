"""What the machine and the installed release look like from inside: kernel identity,
sysctl defaults, dmesg.boot and ACPI tables, derived from a `Variant`.

Two flavours of dmesg.boot and of the ACPI tables are written per host: `native`
(FreeBSD on the bare metal) and `xen` (FreeBSD as a PVH Dom0: Xen hides VT-x/SVM from
the Dom0 CPU features, hides the IOMMU tables DMAR/IVRS and replaces the MADT).  The
boot script picks one and fills in the memory/CPU placeholders (@MEM_BYTES@ ...).
"""

from __future__ import annotations

import hashlib

from .variants import Variant

# Release identity: uname -v, osreldate, pkg(8) version.  Strings as the release media print them.
RELEASES = {
    "11.4-RELEASE": dict(
        osreldate=1104000,
        kernel_version="FreeBSD 11.4-RELEASE #0 r362094: Fri Jun 12 18:27:15 UTC 2020     "
        "root@releng2.nyi.freebsd.org:/usr/obj/usr/src/sys/GENERIC",
        pkg="1.15.10",
        clang="FreeBSD clang version 10.0.0 (git@github.com:llvm/llvm-project.git llvmorg-10.0.0-0-gd32170dbd5b)",
        year=2020,
    ),
    "12.4-RELEASE": dict(
        osreldate=1204000,
        kernel_version="FreeBSD 12.4-RELEASE r372781 GENERIC",
        pkg="1.19.0",
        clang="FreeBSD clang version 13.0.0 (git@github.com:llvm/llvm-project.git llvmorg-13.0.0-0-gd7b669b3a303)",
        year=2022,
    ),
    "13.2-RELEASE": dict(
        osreldate=1302001,
        kernel_version="FreeBSD 13.2-RELEASE releng/13.2-n254617-525ecfdad597 GENERIC",
        pkg="1.19.1",
        clang="FreeBSD clang version 14.0.5 (https://github.com/llvm/llvm-project.git llvmorg-14.0.5-0-gc12386ae247c)",
        year=2023,
    ),
    "14.1-RELEASE": dict(
        osreldate=1401000,
        kernel_version="FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC",
        pkg="1.21.3",
        clang="FreeBSD clang version 18.1.5 (https://github.com/llvm/llvm-project.git llvmorg-18.1.5-0-g617a15a9eac9)",
        year=2024,
    ),
}


def release_info(v: Variant) -> dict:
    if v.freebsd in RELEASES:
        return RELEASES[v.freebsd]
    major, minor = v.freebsd.split("-")[0].split(".")
    return dict(
        osreldate=int(major) * 100000 + int(minor) * 1000,
        kernel_version=f"FreeBSD {v.freebsd} GENERIC",
        pkg="1.21.3",
        clang="FreeBSD clang version 18.1.5",
        year=2024,
    )


CPUS = {
    "intel": dict(
        model="Intel(R) Xeon(R) CPU E5-2620 v4 @ 2.10GHz",
        mhz="2100.04",
        ident='  Origin="GenuineIntel"  Id=0x406f1  Family=0x6  Model=0x4f  Stepping=1',
        hw_caps="bfebfbff:77fef3ff:2c100800:00000121:0000000f:021cbfbb:00000000:00000100",
    ),
    "amd": dict(
        model="AMD EPYC 7302P 16-Core Processor               ",
        mhz="3000.00",
        ident='  Origin="AuthenticAMD"  Id=0x830f10  Family=0x17  Model=0x31  Stepping=0',
        hw_caps="178bfbff:7ed8320b:2e500800:75c237ff:0000000f:219c91a9:00400004:00000500",
    ),
}


def cpu_features(v: Variant, under_xen: bool) -> list[str]:
    """The indented feature lines identcpu prints after "CPU:"."""
    if v.cpu_vendor == "amd":
        amd2 = "LAHF,CMP,SVM,ExtAPIC,CR8,ABM,SSE4A,MAS,Prefetch,OSVW,IBS,SKINIT,WDT,TCE,Topology,PCXC,PNXC,DBE,PL2I,MWAITX,ADMSKX"
        if under_xen:  # Xen does not offer SVM to its PVH Dom0
            amd2 = amd2.replace("SVM,", "")
        lines = [
            "  Features=0x178bfbff<FPU,VME,DE,PSE,TSC,MSR,PAE,MCE,CX8,APIC,SEP,MTRR,PGE,MCA,CMOV,PAT,PSE36,CLFLUSH,MMX,FXSR,SSE,SSE2,HTT>",
            "  Features2=0x7ed8320b<SSE3,PCLMULQDQ,MON,SSSE3,FMA,CX16,SSE4.1,SSE4.2,MOVBE,POPCNT,AESNI,XSAVE,OSXSAVE,AVX,F16C,RDRAND>",
            "  AMD Features=0x2e500800<SYSCALL,NX,MMX+,FFXSR,Page1GB,RDTSCP,LM>",
            f"  AMD Features2=0x75c237ff<{amd2}>",
            "  Structured Extended Features=0x219c91a9<FSGSBASE,BMI1,AVX2,SMEP,BMI2,PQM,PQE,RDSEED,ADX,SMAP,CLFLUSHOPT,CLWB,SHA>",
            "  XSAVE Features=0xf<XSAVEOPT,XSAVEC,XINUSE,XSAVES>",
            "  AMD Extended Feature Extensions ID EBX=0x18cf757<CLZERO,IRPerf,XSaveErPtr,RDPRU,MCOMMIT,WBNOINVD,IBPB,IBRS,STIBP,PREFER_IBRS,SSBD>",
        ]
        if not under_xen:
            np = "NP," if v.slat else ""
            disabled = "(disabled in BIOS) " if v.virt_disabled_in_bios else ""  # VM_CR.SVMDIS
            lines.append(f"  SVM: {disabled}{np}NRIP,VClean,AFlush,DAssist,NAsids=32768")
    else:
        f2 = "SSE3,PCLMULQDQ,DTES64,MON,DS_CPL,VMX,SMX,EST,TM2,SSSE3,SDBG,FMA,CX16,xTPR,PDCM,PCID,DCA,SSE4.1,SSE4.2,x2APIC,MOVBE,POPCNT,TSCDLT,AESNI,XSAVE,OSXSAVE,AVX,F16C,RDRAND"
        if under_xen:
            f2 = f2.replace("VMX,", "")
        lines = [
            "  Features=0xbfebfbff<FPU,VME,DE,PSE,TSC,MSR,PAE,MCE,CX8,APIC,SEP,MTRR,PGE,MCA,CMOV,PAT,PSE36,CLFLUSH,DTS,ACPI,MMX,FXSR,SSE,SSE2,SS,HTT,TM,PBE>",
            f"  Features2=0x7ffefbff<{f2}>",
            "  AMD Features=0x2c100800<SYSCALL,NX,Page1GB,RDTSCP,LM>",
            "  AMD Features2=0x121<LAHF,ABM,Prefetch>",
            "  Structured Extended Features=0x21cbfbb<FSGSBASE,TSCADJ,BMI1,HLE,AVX2,SMEP,BMI2,ERMS,INVPCID,RTM,PQM,NFPUSG,PQE,RDSEED,ADX,SMAP,PROCTRACE>",
            "  Structured Extended Features3=0x9c000400<MD_CLEAR,IBPB,STIBP,L1DFL,SSBD>",
            "  XSAVE Features=0x1<XSAVEOPT>",
        ]
        if not under_xen:
            caps = "PAT,HLT,MTF,PAUSE,EPT,UG,VPID,VID,PostIntr" if v.slat else "PAT,HLT,MTF,PAUSE,VPID"
            disabled = "(disabled in BIOS) " if v.virt_disabled_in_bios else ""
            lines.append(f"  VT-x: {disabled}{caps}")
    lines.append("  TSC: P-state invariant, performance statistics")
    return lines


def dmesg_boot(v: Variant, under_xen: bool) -> str:
    rel = release_info(v)
    cpu = CPUS[v.cpu_vendor]
    arch = v.arch
    lines = [
        "---<<BOOT>>---",
        f"Copyright (c) 1992-{rel['year']} The FreeBSD Project.",
        "Copyright (c) 1979, 1980, 1983, 1986, 1988, 1989, 1991, 1992, 1993, 1994",
        "\tThe Regents of the University of California. All rights reserved.",
        "FreeBSD is a registered trademark of The FreeBSD Foundation.",
        f"{rel['kernel_version']} {arch}",
        rel["clang"],
        "VT(vga): text 80x25",
    ]
    if under_xen:
        lines.append('Hypervisor: Origin = "XenVMMXenVMM"')
    klass = "K8" if v.arch == "amd64" else "686"
    lines.append(f"CPU: {cpu['model']} ({cpu['mhz']}-MHz {klass}-class CPU)")
    lines.append(cpu["ident"])
    lines += cpu_features(v, under_xen)
    lines += [
        "real memory  = @MEM_BYTES@ (@MEM_MB@ MB)",
        "avail memory = @AVAIL_BYTES@ (@AVAIL_MB@ MB)",
        'Event timer "LAPIC" quality 600',
        "ACPI APIC Table: <" + ("Xen    HVM     " if under_xen else "SUPERM SMCI--MB") + ">",
        "FreeBSD/SMP: Multiprocessor System Detected: @NCPU@ CPUs",
    ]
    if under_xen:
        lines += [
            "xen: hypervisor detected, PVH Dom0",
            "xenpv0: <Xen PV bus>",
            "xenstore0: <XenStore> on xenpv0",
            "xen_et0: <Xen PV Clock> on xenpv0",
            'Event timer "XENTIMER" frequency 1000000000 Hz quality 950',
        ]
    for i, ifname in enumerate(v.interfaces):
        lines.append(f"{ifname}: <Intel(R) I350 (Copper)> port 0xe0{i}0-0xe0{i}f mem 0xfb{i}00000-0xfb{i}fffff irq {16 + i} at device 0.{i} on pci1")
        lines.append(f"{ifname}: Ethernet address: {mac_for(v.name, ifname)}")
    if v.iommu and not under_xen and v.major >= 13:
        name = "dmar0: <DMA remap> iomem 0xfbffc000-0xfbffcfff on acpi0" if v.cpu_vendor == "intel" else "amdiommu0: <AMD-Vi/IOMMU ivhd with EFR> at device 0.2 on pci0"
        lines.append(name)
    lines.append("Trying to mount root from zfs:zroot/ROOT/default []...")
    return "\n".join(lines) + "\n"


def mac_for(seed: str, ifname: str) -> str:
    h = hashlib.sha256(f"{seed}/{ifname}".encode()).hexdigest()
    return "00:25:90:" + ":".join(h[i : i + 2] for i in (0, 2, 4))


def _sdt(sig: str, length: int, rev: int, oem: str, table: str, creator: str, body: list[str]) -> list[str]:
    cksum = sum(map(ord, sig + table)) % 256
    return [
        "/*",
        f"  {sig}: Length={length}, Revision={rev}, Checksum={cksum},",
        f"\tOEMID={oem}, OEM Table ID={table}, OEM Revision=0x1072009,",
        f"\tCreator ID={creator}, Creator Revision=0x20091013",
        *body,
        " */",
    ]


def acpi_tables(v: Variant, under_xen: bool) -> str:
    """acpidump -t output (table headers + a few body lines, acpidump's layout)."""
    oem, tid = "SUPERM", "SMCI--MB"
    tables = [("FACP", 276), ("APIC", 3800 // 10), ("HPET", 56), ("MCFG", 60)]
    iommu = None
    if v.iommu and not under_xen:
        iommu = ("DMAR", 200) if v.cpu_vendor == "intel" else ("IVRS", 208)
        tables.append(iommu)
    addrs = [0x7B7E2188 + i * 0x1000 for i in range(len(tables))]
    out = [
        "/*",
        f"  RSD PTR: OEM={oem}, ACPI_Rev=2.0x (2)",
        "\tXSDT=0x000000007b7e0100, length=36, cksum=217",
        " */",
    ]
    out += _sdt(
        "XSDT", 36 + 8 * len(tables), 1, oem, tid, "AMI",
        ["\tEntries={ " + ", ".join(f"0x{a:016x}" for a in addrs) + " }"],
    )
    for sig, length in tables:
        if sig == "FACP":
            body = ["\tFACS=0x7b7fa080, DSDT=0x7b7e0258", "\tINT_MODEL=APIC",
                    "\tPreferred_PM_Profile=Enterprise Server (4)", "\tSCI_INT=9",
                    "\tSMI_CMD=0xb2, ACPI_ENABLE=0xa0, ACPI_DISABLE=0xa1, S4BIOS_REQ=0x0"]
            out += _sdt(sig, length, 6, oem, tid, "INTL", body)
            # acpidump prints the FACS and the DSDT the FADT points to right after it.
            out += ["/*", "  FACS:\tLength=64, HwSig=0x00000000, Firm_Wake_Vec=0x00000000",
                    "\tGlobal_Lock=", "\tFlags=", "\tVersion=2", " */"]
            out += _sdt("DSDT", 61234, 2, oem, tid, "INTL", [])
        elif sig == "APIC":
            body = ["\tLocal APIC ADDR=0xfee00000", "\tFlags={PC-AT}"]
            body += [f"\n\tType=Local APIC\n\tACPI CPU={i}\n\tFlags={{ENABLED}}\n\tAPIC ID={i}" for i in range(v.ncpus)]
            if under_xen:  # Xen builds its own MADT for a PVH Dom0
                out += _sdt(sig, 44 + 8 * v.ncpus, 4, "Xen", "HVM", "XEN", body)
            else:
                out += _sdt(sig, 44 + 8 * v.ncpus, 3, oem, tid, "INTL", body)
        elif sig == "HPET":
            out += _sdt(sig, length, 1, oem, tid, "INTL", ["\tHPET Number=0", "\tADDR=0xfed00000:0[0] (Memory)", "\tHW Rev=0x1", "\tComparators=7", "\tCounter Size=1", "\tLegacy IRQ routing capable={TRUE}", "\tPCI Vendor ID=0x8086", "\tMinimal Tick=14318"])
        elif sig == "MCFG":
            out += _sdt(sig, length, 1, oem, tid, "MSFT", ["", "\tBase Address=0x0000000080000000", "\tSegment Group=0x0000", "\tStart Bus=0", "\tEnd Bus=255"])
        elif sig == "DMAR":
            out += _sdt(sig, length, 1, "INTEL", "BDW", "INTL", ["\tHost Address Width=46", "\tFlags={INTR_REMAP,X2APIC_OPT_OUT}", "", "\tType=DRHD", "\tLength=24", "\tFlags=INCLUDE_ALL", "\tSegment=0", "\tAddress=0x00000000fbffc000"])
        elif sig == "IVRS":
            out += _sdt(sig, length, 2, "AMD", "AMD IOMMU", "AMD", ["\tIVinfo={Version=1, Interrupt_Remapping=YES, PhysAddrSize=48, VirtAddrSize=64, GuestVirtAddrSize=64, ATS_Response_Required=NO, PCIe_Host_Bridge_Bypass=NO}"])
    return "\n".join(out) + "\n"


def sysctl_defaults(v: Variant, hostname: str) -> list[tuple[str, str, str, str]]:
    """(name, access, type, value) for the kernel at power-on.  access: rw | ro | tun
    (loader tunable, read-only at run time); type: I integer | S string.  Values that
    depend on how the machine booted (memory, CPUs, boottime, vm_guest) are filled in by
    the boot script."""
    rel = release_info(v)
    pages = v.memory_mib * 256
    rows = [
        ("kern.ostype", "ro", "S", "FreeBSD"),
        ("kern.osrelease", "ro", "S", v.freebsd),
        ("kern.osrevision", "ro", "I", "199506"),
        ("kern.version", "ro", "S", rel["kernel_version"]),
        ("kern.osreldate", "ro", "I", str(rel["osreldate"])),
        ("kern.hostname", "rw", "S", hostname),
        ("kern.securelevel", "rw", "I", "-1"),
        # init(8) gives rc.shutdown this many seconds (sys/kern/init_main.c: 120)
        ("kern.init_shutdown_timeout", "rw", "I", "120"),
        ("kern.maxfiles", "rw", "I", str(max(32768, pages // 32))),
        ("kern.boottime", "ro", "S", ""),
        ("kern.vm_guest", "ro", "S", "none"),
        ("kern.smp.cpus", "ro", "I", str(v.ncpus)),
        ("kern.ipc.maxsockbuf", "rw", "I", "2097152"),
        ("hw.machine", "ro", "S", v.arch),
        ("hw.model", "ro", "S", CPUS[v.cpu_vendor]["model"]),
        ("hw.ncpu", "ro", "I", str(v.ncpus)),
        ("hw.byteorder", "ro", "I", "1234"),
        ("hw.physmem", "ro", "I", str(v.memory_mib * 1048576)),
        ("hw.usermem", "ro", "I", str(v.memory_mib * 1048576)),
        ("hw.pagesize", "ro", "I", "4096"),
        ("hw.realmem", "ro", "I", str(v.memory_mib * 1048576)),
        ("hw.machine_arch", "ro", "S", v.arch),
        ("hw.hv_vendor", "ro", "S", ""),
        ("machdep.bootmethod", "ro", "S", v.boot_method),
        ("security.jail.jailed", "ro", "I", "0"),
        ("security.bsd.see_other_uids", "rw", "I", "1"),
        ("vm.stats.vm.v_page_count", "ro", "I", str(pages)),
        ("vm.swap_enabled", "rw", "I", "1"),
        ("vm.overcommit", "rw", "I", "0"),
        # The wired-memory limit was renamed in FreeBSD 13 (vm.max_wired -> vm.max_user_wired).
        (v.wired_sysctl, "rw", "I", str(pages // 3)),
        ("vfs.zfs.vdev.min_auto_ashift", "rw", "I", "9"),
        ("net.inet.ip.forwarding", "rw", "I", "0"),
        ("net.link.bridge.pfil_member", "rw", "I", "1"),
        ("net.link.bridge.pfil_bridge", "rw", "I", "1"),
        ("net.link.bridge.pfil_onlyip", "rw", "I", "1"),
        ("net.link.tap.up_on_open", "rw", "I", "0"),
        # loader tunables (read-only at run time; the boot script applies loader.conf)
        ("hw.pci.mcfg", "tun", "I", "1"),
        ("kern.geom.label.disk_ident.enable", "tun", "I", "1"),
        ("kern.geom.label.gptid.enable", "tun", "I", "1"),
    ]
    if v.major >= 13:
        rows.append(("kern.ipc.soacceptqueue", "rw", "I", "128"))
    rows.append(("kern.ipc.somaxconn", "rw", "I", "128"))
    return rows
