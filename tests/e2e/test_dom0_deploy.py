"""
deploys/dom0.py end to end: the real pyinfra CLI over real SSH against
simulated FreeBSD hosts, fresh host -> deploy -> files exactly right -> reboot
-> Domain-0 as configured -> second run changes nothing.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest

from tests.e2e.deploy import dry_run, dry_run_changes, plan_lines, pyinfra

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the simulated hosts are chroots served by sshd: needs root"),
]

# variant -> host data. Each is a supported combination of FreeBSD and Xen.
GOOD = {
    "freebsd11-xen47": {"xen_version": "4.7", "xen_dom0_mem": "2048M", "xen_dom0_max_vcpus": 2,
                        "xen_bridge_style": "autobridge"},
    "freebsd12": {"xen_version": "4.11", "xen_dom0_mem": "4G", "xen_dom0_max_vcpus": 2},
    "freebsd13": {"xen_version": "4.19", "xen_bridge_ip": "inet 192.0.2.13/24"},
    "freebsd14": {},
    "freebsd14-xen421": {},
    "freebsd15": {"xen_version": "4.21"},
    "amd": {"xen_dom0_mem": "6144M", "xen_dom0_max_vcpus": 3},
    "uefi14": {"xen_console": "vga", "xen_serial": ""},
    "ttys-without-xc0": {},
    "login-customised": {},
}

BAD = {
    "no-slat": "second-level paging",
    "virt-disabled": "disabled in the BIOS",
    "no-iommu": "no IOMMU",
    "uefi13": "a UEFI Xen Dom0 needs FreeBSD 14 or later",
    "i386": "Xen Dom0 needs amd64, this host is i386",
}

WATCHED = ["/boot/loader.conf", "/etc/rc.conf", "/etc/sysctl.conf", "/etc/login.conf", "/etc/ttys"]


def host_name(variant: str) -> str:
    return variant.replace(".", "-")


@pytest.fixture(scope="module")
def fleet():
    from simhost.fleet import Fleet

    fleet = Fleet(f"/var/lib/freebsd-xen-sim/dom0-{uuid.uuid4().hex[:8]}")
    for variant in [*GOOD, *BAD]:
        fleet.add(host_name(variant), variant)
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def inventory(fleet, tmp_path_factory):
    path = tmp_path_factory.mktemp("inventory") / "fleet.py"
    data = {host_name(v): {"xen_bridge_members": ["em0"], **extra} for v, extra in GOOD.items()}
    data.update({host_name(v): {"xen_bridge_members": ["em0"]} for v in BAD})
    fleet.write_inventory(path, data)
    return path


@pytest.fixture(scope="module")
def before(fleet):
    return {name: {p: host.read(p) for p in WATCHED} | {"state": host.sim_state()} for name, host in fleet.hosts.items()}


@pytest.fixture(scope="module")
def dry(inventory, before):
    return dry_run_changes(inventory, "deploys/dom0.py")


@pytest.fixture(scope="module")
def dry_plan(inventory, dry):
    # Answer "continue?" (asked when a host fails pre-flight) as a user would.
    return dry_run(inventory, "deploys/dom0.py", answer="\n" * 10)


@pytest.fixture(scope="module")
def first(inventory, dry, dry_plan):
    return pyinfra(inventory, "deploys/dom0.py")


@pytest.fixture(scope="module")
def second(first, inventory):
    return pyinfra(inventory, "deploys/dom0.py")


def test_dry_run_changed_nothing_and_listed_what_the_real_run_did(fleet, before, dry, first):
    assert dry, "the dry run proposed no changes on fresh hosts"
    assert dry == first.changed_operations(), first.output[-5000:]
    # --dry itself must not have touched anything: the first run still had work to do.
    assert "Reboot into Xen and verify" in dry


def per_host(lines):
    hosts = {}
    for name, change in lines:
        hosts.setdefault(name, []).append(change)
    return hosts


def test_the_dry_run_planned_per_host_what_the_real_run_did(dry_plan, first):
    planned = per_host(plan_lines(dry_plan.output))
    assert set(planned) == {host_name(v) for v in GOOD}, dry_plan.output[-3000:]
    assert planned == per_host(plan_lines(first.output))
    for name, changes in planned.items():
        if name != host_name("login-customised"):   # the others are fresh installs: no pkg yet
            assert changes.pop(0).startswith("packages: bootstrap pkg first"), changes
        assert changes[0].startswith("packages: install xen-"), changes
        assert any(c.startswith("loader.conf: ") and c.endswith("(Xen starts at the next boot)") for c in changes)
        assert changes[-1].startswith("reboot: yes (shutdown -r now), because Xen is not running yet"), changes


@pytest.mark.parametrize("variant", list(GOOD))
def test_good_host_becomes_the_configured_dom0(fleet, first, variant):
    from spec.schema import validate_dom0

    host = fleet.hosts[host_name(variant)]
    spec = validate_dom0(host.name, {"xen_bridge_members": ["em0"], **GOOD[variant]})
    state = host.sim_state()
    assert state["kernel"] == "xen", (state, first.output[-3000:])
    assert state["boot_count"] >= 1
    # shutdown -r now, not reboot: only shutdown(8) runs rc.shutdown (and xendomains with it)
    assert state["last_power_via"] == "shutdown(8)"
    assert state["xen_cmdline"] == spec.cmdline
    assert state["dom0_memory_mib"] == spec.dom0_mem_mib
    assert state["dom0_vcpus"] == spec.xen_dom0_max_vcpus
    assert state["interfaces"].get("bridge0") == ["em0"]
    assert {p for p in state["packages"] if p.startswith("xen-")} == set(spec.release.packages)

    loader = host.read("/boot/loader.conf")
    assert 'xen_kernel="/boot/xen"' in loader.splitlines()
    assert f'xen_cmdline="{spec.cmdline}"' in loader.splitlines()
    assert ('hw.pci.mcfg="0"' in loader.splitlines()) == (spec.xen_version == "4.7")

    wired = "vm.max_user_wired" if host.variant.freebsd >= "13" else "vm.max_wired"
    sysctl_conf = host.read("/etc/sysctl.conf").splitlines()
    assert sysctl_conf.count(f"{wired}=-1") == 1
    assert state["sysctl"][wired] in ("-1", "18446744073709551615")

    ttys = host.read("/etc/ttys").splitlines()
    assert len([line for line in ttys if line.split()[:1] == ["xc0"]]) == 1

    login = host.read("/etc/login.conf")
    default_record = login.split("\ndefault:")[1].split("\n\n")[0] if "\ndefault:" in login else login
    assert ":memorylocked=unlimited:" in default_record
    assert host.exists("/etc/login.conf.db")

    rc = host.read("/etc/rc.conf").splitlines()
    assert 'xencommons_enable="YES"' in rc
    if spec.xen_bridge_style == "cloned":
        assert f'ifconfig_bridge0="addm em0 {spec.xen_bridge_ip}"' in rc
    else:
        assert 'autobridge_bridge0="em0"' in rc
    assert 'ifconfig_em0="up"' in rc
    assert host.path("/var/log/xen").is_dir() and oct(host.path("/var/log/xen").stat().st_mode)[-3:] == "755"
    xl_conf = host.read("/usr/local/etc/xen/xl.conf").splitlines()
    assert 'vif.default.bridge="bridge0"' in xl_conf and 'autoballoon="off"' in xl_conf
    assert (host.exists("/boot/menu.rc.local") and "try-include /boot/xen.4th" in host.read("/boot/menu.rc.local")) == (
        spec.xen_version == "4.7"
    )
    # The previous loader.conf was kept.
    assert host.exists("/boot/loader.conf.bak")


def test_xl_list_over_ssh_shows_domain0_as_configured(fleet, first):
    host = fleet.hosts[host_name("freebsd14")]
    listing = host.run("xl list").stdout.splitlines()
    assert listing[0].split()[:4] == ["Name", "ID", "Mem", "VCPUs"]
    assert listing[1].split()[:4] == ["Domain-0", "0", "8192", "4"]


@pytest.mark.parametrize("variant, message", list(BAD.items()))
def test_unfit_host_fails_preflight_untouched(fleet, before, first, variant, message):
    name = host_name(variant)
    host = fleet.hosts[name]
    said = [m.group(1) for m in re.finditer(rf"\[{re.escape(name)}\]\s+pre-flight: (.*)", first.output)]
    assert any(message in line for line in said), said
    for path in WATCHED:
        assert host.read(path) == before[name][path], path
    state = host.sim_state()
    assert state["packages"] == before[name]["state"]["packages"]
    assert state["boot_count"] == before[name]["state"]["boot_count"]


def test_first_run_reports_failed_hosts(first):
    assert first.returncode != 0  # five hosts were stopped in pre-flight


def test_second_run_changes_nothing_and_reboots_nothing(fleet, first, second):
    boots = {name: host.sim_state()["boot_count"] for name, host in fleet.hosts.items()}
    assert second.changed_operations() == {}, second.output[-4000:]
    results = second.results()
    assert results["Grand total"][1] == 0
    assert {name: host.sim_state()["boot_count"] for name, host in fleet.hosts.items()} == boots
    # one operation per converged host, not one per step (see operations/steps.py)
    assert results == {"Dom0 matches the host data": (0, 0, len(GOOD)), "Grand total": (0, 0, len(GOOD))}


def test_converged_run_still_says_what_each_step_found(fleet, second, inventory):
    verbose = pyinfra(inventory, "deploys/dom0.py", "-v")
    for line in ["Xen packages are installed: xen-kernel", "/etc/ttys has the xc0 console",
                 "/var/log/xen is a 0755 directory", "runs as configured"]:
        hosts = set(re.findall(r"\[([^\]]+)\]\s+noop: [^\n]*" + re.escape(line), verbose.output))
        assert hosts == {host_name(v) for v in GOOD}, (line, verbose.output[-3000:])

