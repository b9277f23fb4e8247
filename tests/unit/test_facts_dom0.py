"""
facts/dom0.py: the composite read's shell (run here under a POSIX sh with stub
tools) and the parse of its sections (fixtures: see fixtures/outputs/SOURCES.md).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from facts.dom0 import AUTOSTART_SCRIPT, LOADER_CONF, LOGIN_CONF, MENU_RC_LOCAL, RC_CONF, SYSCTL_CONF, TTYS, XL_CONF, dom0_commands, parse_dom0_sections
from facts.sections import Section, composite_command, split_sections

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"
SH = shutil.which("dash") or "/bin/sh"


def fixture(name: str) -> str:
    return (OUT / name).read_text()


def stub_tools(bin_dir: Path, vm_guest: str) -> Path:
    """sysctl(8) answering the read's oids, grep and acpidump that log being run."""

    calls = bin_dir / "calls"
    sysctl_out = f"kern.osrelease=14.1-RELEASE\n{fixture('sysctl_e.format.txt')}".replace(
        "kern.vm_guest=none", f"kern.vm_guest={vm_guest}")
    (bin_dir / "sysctl.out").write_text(sysctl_out)
    tools = {
        "sysctl": f'cat "{bin_dir}/sysctl.out"',
        "grep": f'echo grep >> "{calls}"; echo "  VT-x: PAT,HLT,MTF,PAUSE,EPT,UG,VPID"',
        "acpidump": f'echo acpidump >> "{calls}"; cat "{OUT}/acpidump_t.format_dmar.txt"',
    }
    for name, body in tools.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return calls


def run_sections(tmp_path: Path, vm_guest: str, names=("sysctl", "cpu", "acpi")) -> tuple[dict[str, Section], str]:
    calls = stub_tools(tmp_path, vm_guest)
    commands = dom0_commands()
    script = composite_command({name: commands[name] for name in names})
    done = subprocess.run([SH, "-c", script], capture_output=True, text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return split_sections(done.stdout.splitlines()), calls.read_text() if calls.exists() else ""


def test_one_sysctl_call_tells_the_hardware_probes_whether_xen_runs(tmp_path):
    sections, calls = run_sections(tmp_path, "none")
    assert calls.split() == ["grep", "acpidump"]
    assert "VT-x:" in sections["cpu"].text and "DMAR" in sections["acpi"].text
    assert "kern.osrelease=14.1-RELEASE" in sections["sysctl"].text.splitlines()


def test_under_xen_the_hardware_probes_are_skipped(tmp_path):
    # Xen hides VT-x and the DMAR/IVRS tables from its Dom0: nothing to learn there.
    sections, calls = run_sections(tmp_path, "xen")
    assert calls == ""
    assert sections["cpu"] == Section("", 0) and sections["acpi"] == Section("", 0)


@pytest.mark.parametrize("vm_guest", ["kvm", "bhyve", "hv"])
def test_other_hypervisors_are_probed(tmp_path, vm_guest):
    _, calls = run_sections(tmp_path, vm_guest)
    assert calls.split() == ["grep", "acpidump"]


def read_output(**overrides: Section) -> dict[str, Section]:
    sections = {
        "sysctl": Section("kern.osrelease=13.2-RELEASE-p4\n" + fixture("sysctl_e.format.txt"), 0),
        "packages": Section(fixture("pkg_query.format.txt"), 0),
        "cpu": Section(fixture("dmesg.atom_c2758_ept.txt"), 0),
        "acpi": Section(fixture("acpidump_t.format_dmar.txt"), 0),
        "interfaces": Section("em0 em1 lo0", 0),
        "login_db_fresh": Section("", 1),
        "xen_kernel": Section("", 0),
        "xen_boot_menu": Section("", 1),
        "log_dir": Section("Directory 755", 0),
        "xl_list": Section(fixture("xl_list.handbook_dom0.txt"), 0),
        "xl_info": Section(fixture("xl_info.manpage.txt"), 0),
        f"file:{LOADER_CONF}": Section("file\n" + b'xen_kernel="/boot/xen"'.hex(" "), 0),  # no final newline
        f"file:{TTYS}": Section("absent\n", 0),
    }
    for path in (RC_CONF, SYSCTL_CONF, LOGIN_CONF, XL_CONF, MENU_RC_LOCAL, AUTOSTART_SCRIPT):
        sections[f"file:{path}"] = Section("file\n", 0)  # empty files
    sections.update(overrides)
    return sections


def test_parse_of_a_dom0_read():
    dom0 = parse_dom0_sections(read_output())
    assert dom0.release == "13.2-RELEASE-p4"
    assert dom0.freebsd_version == (13, 2)
    assert dom0.arch == "amd64" and dom0.ncpu == 8 and dom0.boot_method == "UEFI"
    assert dom0.packages == {"xen-kernel": "4.18.0", "xen-tools": "4.18.0_1"}  # only Xen's
    assert dom0.interfaces == ("em0", "em1", "lo0")
    assert not dom0.login_db_fresh and dom0.xen_kernel_present and not dom0.xen_boot_menu_present
    assert dom0.log_dir == ("Directory", "755")
    assert {"DMAR"} <= dom0.acpi_tables
    assert dom0.cpu.hvm and dom0.cpu.slat
    assert dom0.domain("Domain-0").mem_mib == 8192
    assert dom0.file(LOADER_CONF) == 'xen_kernel="/boot/xen"'  # exactly: no newline added
    assert dom0.read(LOADER_CONF).sha256 == hashlib.sha256(b'xen_kernel="/boot/xen"').hexdigest()
    assert dom0.file(TTYS) is None and dom0.read(TTYS).basis == "absent"  # absent, not empty
    assert dom0.file(RC_CONF) == "" and dom0.read(RC_CONF).basis == hashlib.sha256(b"").hexdigest()


def test_parse_when_xl_fails_keeps_its_message():
    error = fixture("xl_error.no_hypervisor.txt")
    dom0 = parse_dom0_sections(read_output(xl_list=Section(error, 1), xl_info=Section(error, 1)))
    assert dom0.domains is None and dom0.xen_info is None
    assert dom0.xl_error == error.strip()


def test_parse_without_a_release_leaves_the_version_unknown():
    dom0 = parse_dom0_sections(read_output(sysctl=Section(fixture("sysctl_e.format.txt"), 0)))
    assert dom0.release == "" and dom0.freebsd_version is None


def test_pre_flight_can_name_every_managed_path_that_is_not_a_regular_file():
    dom0 = parse_dom0_sections(read_output(**{f"file:{XL_CONF}": Section("directory\n", 0)}))
    assert dom0.unwritable_files() == [f"{XL_CONF} is a directory, not a regular file: refusing to replace it"]
    assert parse_dom0_sections(read_output()).unwritable_files() == []
