"""
deploys/dom0.py edge cases end to end: bad host data refused before any
connection, and xen_reboot False leaving the reboot to the admin.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest

from tests.e2e.deploy import pyinfra

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the simulated hosts are chroots served by sshd: needs root"),
]


@pytest.fixture
def fleet():
    from simhost.fleet import Fleet

    fleet = Fleet(f"/var/lib/freebsd-xen-sim/edges-{uuid.uuid4().hex[:8]}")
    fleet.add("xen1", "freebsd14")
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"xen_dom0_mem": "lots"}, "xen1: xen_dom0_mem 'lots' is not a size: write it like 8192M or 8G"),
        ({"xen_dom0_memory": "4G"}, "xen1: unknown host-data key xen_dom0_memory: did you mean xen_dom0_mem?"),
        ({"xen_bridge_members": ["em0 em1"]}, "xen1: xen_bridge_members 'em0 em1' is not a FreeBSD interface name"),
        ({"xen_bridge_members": ["em0;reboot"]}, "xen1: xen_bridge_members 'em0;reboot' is not a FreeBSD interface"),
    ],
)
def test_invalid_data_is_refused_before_connecting(fleet, tmp_path, data, message):
    inventory = tmp_path / "inventory.py"
    fleet.write_inventory(inventory, {"xen1": {"xen_bridge_members": ["em0"], **data}})
    host = fleet.hosts["xen1"]
    before = host.read("/boot/loader.conf"), host.sim_state()["boot_count"]
    run = pyinfra(inventory, "deploys/dom0.py")
    assert run.returncode != 0
    assert "invalid host data, nothing was changed" in run.output
    assert message in run.output
    assert "Connected" not in run.output
    assert (host.read("/boot/loader.conf"), host.sim_state()["boot_count"]) == before


def test_reboot_left_to_the_admin_when_xen_reboot_is_false(fleet, tmp_path):
    inventory = tmp_path / "inventory.py"
    fleet.write_inventory(inventory, {"xen1": {"xen_bridge_members": ["em0"], "xen_reboot": False}})
    host = fleet.hosts["xen1"]
    first = pyinfra(inventory, "deploys/dom0.py")
    assert first.returncode == 0, first.output[-3000:]
    assert re.search(r"REBOOT PENDING \(xen_reboot is False\): Xen is not running yet", first.output)
    assert host.sim_state()["boot_count"] == 0 or host.sim_state()["kernel"] == "freebsd"
    assert 'xen_kernel="/boot/xen"' in host.read("/boot/loader.conf")
    second = pyinfra(inventory, "deploys/dom0.py")
    assert second.changed_operations() == {}
    assert "REBOOT PENDING" in second.output
    assert host.sim_state()["kernel"] == "freebsd"


@pytest.mark.parametrize(
    "guest, fragment",
    [
        ({"name": "web'; reboot; '", "memory": 512, "vcpus": 1}, "xen_guests[0].name"),
        ({"name": "web", "memory": 512, "vcpus": 1, "disks": [{"file": "/vm/my disk.img", "size": "1G"}]},
         "xen_guests[0].disks[0].file"),
        ({"name": "web", "memory": 512, "vcpus": 1, "vnc": {"password": 'a"b\nc'}}, "xen_guests[0].vnc.password"),
        ({"name": "web", "memory": 512, "vcpus": 1, "disks": [{"zvol": "zroot/$(reboot)", "size": "1G"}]},
         "xen_guests[0].disks[0].zvol"),
    ],
)
def test_hostile_guest_data_is_refused_before_connecting(fleet, tmp_path, guest, fragment):
    inventory = tmp_path / "inventory.py"
    fleet.write_inventory(inventory, {"xen1": {"xen_bridge_members": ["em0"], "xen_guests": [guest]}})
    run = pyinfra(inventory, "deploys/guests.py")
    assert run.returncode != 0
    assert "invalid host data, nothing was changed" in run.output
    assert f"xen1: {fragment}" in run.output
    assert "Connected" not in run.output
