"""
deploys/guests.py end to end over real SSH: the FreeBSD Handbook's example
guest (1 GiB, 2 vCPUs, 20 GB zvol, FreeBSD ISO, bridge0 vif, VNC, serial pty,
tablet) from nothing to running, to installed, through a Dom0 reboot, resized
live, stopped, absent with its disk kept, then with destroy_disks; each first
run succeeds although a shut-down domain lingers 2 s before it is gone (as
xl(1) allows), and a second run after each step changes nothing. Every config the deploy writes is parsed by
Xen's own libxlutil.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid

import pytest

from tests import xlparse
from tests.e2e.deploy import dry_run, plan_lines, pyinfra

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the simulated hosts are chroots served by sshd: needs root"),
]

ISO_URL = "https://download.freebsd.org/releases/ISO-IMAGES/14.2/FreeBSD-14.2-RELEASE-amd64-bootonly.iso"
ISO = b"CD001 simulated FreeBSD 14.2 bootonly image\n" * 1000
ISO_SHA = hashlib.sha256(ISO).hexdigest()
ISO_PATH = "/var/lib/xen/iso/freebsd.iso"
CFG = "/usr/local/etc/xen/freebsd.cfg"
ZVOL = "zroot/xen/freebsd-disk0"
PASSWORD = "Vnc$(x)'"[:7]  # a password with shell metacharacters must survive intact
DOM0 = {"xen_dom0_mem": "4096M", "xen_dom0_max_vcpus": 2, "xen_bridge_members": ["em0"]}
# The whole lifecycle on today's default, on the Handbook's own era (FreeBSD 11,
# Xen 4.7: guests written with builder) and on FreeBSD 15 with the ports' Xen 4.21.
ERAS = {"freebsd14": {}, "freebsd11-xen47": {"xen_version": "4.7"}, "freebsd15": {"xen_version": "4.21"}}


def handbook_guest(**changes):
    guest = {
        "name": "freebsd",
        "memory": 1024,
        "maxmem": 2048,
        "vcpus": 2,
        "maxvcpus": 4,
        "type": "hvm",
        "disks": [{"zvol": ZVOL, "size": "20G"}],
        "cdrom": {"url": ISO_URL, "sha256": ISO_SHA, "path": ISO_PATH},
        "vifs": [{"bridge": "bridge0"}],
        "vnc": {"listen": "127.0.0.1", "password": PASSWORD},
        "serial": "pty",
        "usbdevice": "tablet",
        "extra": {"on_crash": "restart"},
    }
    guest.update(changes)
    return guest


@pytest.fixture(scope="module", params=list(ERAS))
def dom0(request, tmp_path_factory):
    from simhost.fleet import Fleet

    xlparse.require_libxlutil()
    fleet = Fleet(f"/var/lib/freebsd-xen-sim/guests-{uuid.uuid4().hex[:8]}")
    fleet.add("xen1", request.param)
    fleet.era = request.param
    fleet.mirror_add(ISO_URL, ISO)
    fleet.start()
    # As xl(1) says: a shut-down domain lingers (name and disks taken) until it is
    # destroyed; 2 s is longer than any gap between two of the deploy's commands,
    # so a restart or a zfs destroy that does not wait for it fails its first run.
    fleet.set_xen_timing("xen1", linger_seconds=2)
    inventory = tmp_path_factory.mktemp("inventory") / "inventory.py"
    fleet.write_inventory(inventory, {"xen1": {**DOM0, **ERAS[request.param]}})
    run = pyinfra(inventory, "deploys/dom0.py")
    assert run.returncode == 0, run.output[-3000:]
    yield fleet, inventory
    fleet.stop()


def deploy(dom0, *guests, expect_ok=True, args=(), **host_data):
    """
    Declare ``guests`` on xen1, run deploys/guests.py dry, then twice: the first
    run plans what the dry run planned, the second changes nothing.
    """

    fleet, inventory = dom0
    era = ERAS[fleet.era]
    fleet.write_inventory(inventory, {"xen1": {**DOM0, **era, **host_data, "xen_guests": list(guests)}})
    dry = dry_run(inventory, "deploys/guests.py") if expect_ok else None
    first = pyinfra(inventory, "deploys/guests.py", *args)
    if not expect_ok:
        return first
    assert first.returncode == 0, first.output[-4000:]
    # the dry run said what the real run then did (-y: said as it executes)
    assert plan_lines(first.output) == plan_lines(dry.output), (dry.output[-3000:], first.output[-3000:])
    second = pyinfra(inventory, "deploys/guests.py")
    assert second.returncode == 0, second.output[-4000:]
    assert second.changed_operations() == {}, second.output[-4000:]
    # a converged Dom0 gets one operation, whatever the number of guests (operations/steps.py)
    assert set(second.results()) == {"Guests match their declarations", "Grand total"}, second.output
    return first


def xl_domain(fleet, name="freebsd"):
    return fleet.hosts["xen1"].sim_state()["domains"].get(name)


def parsed_config(fleet):
    return xlparse.parse_cfg(fleet.hosts["xen1"].read(CFG))


def test_1_from_nothing_to_running_from_the_cdrom(dom0):
    fleet, _ = dom0
    first = deploy(dom0, handbook_guest())
    host = fleet.hosts["xen1"]
    domain = xl_domain(fleet)
    assert domain is not None and domain["memory"] == "1024" and domain["vcpus"] == "2"
    assert host.read(ISO_PATH).encode() == ISO
    cfg = parsed_config(fleet)
    if fleet.era == "freebsd11-xen47":  # xl before 4.10 has no type key
        assert cfg.get_string("builder") == "hvm" and not cfg.has("type")
    else:
        assert cfg.get_string("type") == "hvm" and not cfg.has("builder")
    assert cfg.get_long("memory") == 1024 and cfg.get_long("maxmem") == 2048
    assert cfg.get_long("vcpus") == 2 and cfg.get_long("maxvcpus") == 4
    assert cfg.get_string("vnclisten") == "127.0.0.1"
    assert cfg.get_string("vncpasswd") == PASSWORD
    disks = [xlparse.parse_disk_spec(spec) for spec in cfg.get_list("disk")]
    assert [(d["vdev"], d["target"], bool(d["is_cdrom"])) for d in disks] == [
        ("hda", f"/dev/zvol/{ZVOL}", False), ("hdc", ISO_PATH, True),
    ]
    [vif] = cfg.get_list("vif")
    assert "bridge=bridge0" in vif and "mac=00:16:3e:" in vif
    assert oct(host.path(CFG).stat().st_mode)[-3:] == "600"
    assert PASSWORD not in first.output
    assert 'xendomains_list="freebsd"' in host.read("/etc/rc.conf")


def test_2_installed_detaches_the_cdrom_and_boots_from_disk(dom0):
    fleet, _ = dom0
    before = xl_domain(fleet)["domid"]
    # The config is rewritten (cdrom gone): even pyinfra's debug log must not show the password.
    run = deploy(dom0, handbook_guest(installed=True), args=("--debug", "-vvv"))
    assert "Starting operation: freebsd: xl config" in run.output and "upload" in run.output.lower()
    assert PASSWORD not in run.output
    assert fleet.hosts["xen1"].read(CFG).count(f'vncpasswd = "{PASSWORD}"') == 1
    disks = [xlparse.parse_disk_spec(spec) for spec in parsed_config(fleet).get_list("disk")]
    assert [d["vdev"] for d in disks] == ["hda"]
    assert xl_domain(fleet)["domid"] != before  # restarted to boot from disk


def test_3_guest_comes_back_after_a_dom0_reboot(dom0):
    fleet, _ = dom0
    boots = fleet.hosts["xen1"].sim_state()["boot_count"]
    fleet.power_cycle("xen1")
    fleet.wait_for_boot("xen1", boots)
    assert xl_domain(fleet) is not None, fleet.hosts["xen1"].sim_state()
    deploy(dom0, handbook_guest(installed=True))


def test_4_resized_live_within_maxmem_and_maxvcpus(dom0):
    fleet, _ = dom0
    before = xl_domain(fleet)["domid"]
    deploy(dom0, handbook_guest(installed=True, memory=2048, vcpus=3))
    # xl list shows the new memory and vCPUs once the guest has taken them up (its
    # balloon driver, as on real Xen): the second deploy did not set them again
    deadline = time.monotonic() + 20
    while (xl_domain(fleet)["memory"], xl_domain(fleet)["vcpus"]) != ("2048", "3") and time.monotonic() < deadline:
        time.sleep(0.5)
    domain = xl_domain(fleet)
    assert (domain["memory"], domain["vcpus"], domain["domid"]) == ("2048", "3", before)


def test_5_a_change_that_needs_a_restart_waits_for_permission(dom0):
    fleet, _ = dom0
    before = xl_domain(fleet)["domid"]
    run = deploy(dom0, handbook_guest(installed=True, memory=2048, vcpus=3, maxvcpus=8))
    assert "guest freebsd awaits a restart to apply: maxvcpus 4 -> 8" in run.output
    assert xl_domain(fleet)["domid"] == before
    deploy(dom0, handbook_guest(installed=True, memory=2048, vcpus=3, maxvcpus=8, restart_on_change=True))
    assert xl_domain(fleet)["domid"] != before


def test_5b_the_host_wide_xen_restart_on_change_restarts_on_the_first_run_too(dom0):
    fleet, _ = dom0
    before = xl_domain(fleet)["domid"]
    deploy(dom0, handbook_guest(installed=True, memory=2048, vcpus=3, maxvcpus=6), xen_restart_on_change=True)
    assert xl_domain(fleet)["domid"] != before
    assert xl_domain(fleet)["maxvcpus"] == "6"


def test_6_stopped(dom0):
    fleet, _ = dom0
    deploy(dom0, handbook_guest(installed=True, state="stopped"))
    assert xl_domain(fleet) is None
    assert 'xendomains_list=""' in fleet.hosts["xen1"].read("/etc/rc.conf")


def test_7_absent_keeps_the_disk(dom0):
    fleet, _ = dom0
    deploy(dom0, handbook_guest(installed=True, state="absent"))
    host = fleet.hosts["xen1"]
    assert not host.exists(CFG)
    assert host.exists(f"/dev/zvol/{ZVOL}")


def test_8_absent_with_destroy_disks(dom0):
    fleet, _ = dom0
    deploy(dom0, handbook_guest(installed=True, state="absent", destroy_disks=True))
    assert not fleet.hosts["xen1"].exists(f"/dev/zvol/{ZVOL}")


def test_8b_absent_with_destroy_disks_in_one_run_while_it_runs(dom0):
    fleet, _ = dom0
    # Xen 4.7 has no PVH guests: a PV one with its kernel there
    kind = {"type": "pv", "extra": {"kernel": "/boot/kernel/kernel"}} if fleet.era == "freebsd11-xen47" else {"type": "pvh"}
    scratch = handbook_guest(name="scratch", disks=[{"zvol": "zroot/xen/scratch-disk0", "size": "1G"}],
                             cdrom=None, vnc=None, serial=None, usbdevice=None, installed=True, **kind)
    deploy(dom0, scratch)
    assert xl_domain(fleet, "scratch") is not None
    # one run: shut down (it lingers 2 s), then zfs destroy its volume, which is busy until it is gone
    deploy(dom0, {**scratch, "state": "absent", "destroy_disks": True})
    assert xl_domain(fleet, "scratch") is None
    assert not fleet.hosts["xen1"].exists("/dev/zvol/zroot/xen/scratch-disk0")


def test_9_a_bad_download_leaves_no_file_and_stops_nothing_else(dom0):
    fleet, _ = dom0
    bad_url = ISO_URL.replace("bootonly", "disc1")
    fleet.mirror_add(bad_url, b"not the image you are looking for")
    guest = handbook_guest(name="broken", cdrom={"url": bad_url, "sha256": ISO_SHA, "path": "/var/lib/xen/iso/b.iso"},
                           disks=[{"zvol": "zroot/xen/broken0", "size": "1G"}], vnc=None)
    run = deploy(dom0, guest, expect_ok=False)
    assert run.returncode != 0
    assert "SHA-256 mismatch" in run.output
    host = fleet.hosts["xen1"]
    assert not host.exists("/var/lib/xen/iso/b.iso")
    assert not host.exists("/var/lib/xen/iso/b.iso.part")
    assert xl_domain(fleet, "broken") is None


def test_10_unknown_bridge_and_too_much_memory_stop_the_host_first(dom0):
    fleet, _ = dom0
    guest = handbook_guest(name="big", memory=50000, maxmem=50000, vifs=[{"bridge": "bridge9"}], cdrom=None,
                           disks=[{"zvol": "zroot/xen/big0", "size": "1G"}], installed=True)
    run = deploy(dom0, guest, expect_ok=False)
    assert "guest big: vifs[0] uses bridge bridge9, which does not exist on this host" in run.output
    assert "guest big: needs 50000M" in run.output
    assert not fleet.hosts["xen1"].exists("/dev/zvol/zroot/xen/big0")


def test_11_an_undeclared_guest_is_reported_and_left_alone(dom0):
    fleet, _ = dom0
    host = fleet.hosts["xen1"]
    kind = 'builder = "hvm"' if fleet.era == "freebsd11-xen47" else 'type = "hvm"'  # xl 4.7 has no type
    host.write("/usr/local/etc/xen/legacy.cfg", f'name = "legacy"\n{kind}\nmemory = 256\nvcpus = 1\n')
    created = host.run("xl create /usr/local/etc/xen/legacy.cfg")
    assert created.returncode == 0, created.stderr
    run = deploy(dom0)
    assert "guest legacy runs here but is not declared: left alone (unmanaged)" in run.output
    assert xl_domain(fleet, "legacy") is not None
    assert host.exists("/usr/local/etc/xen/legacy.cfg")
