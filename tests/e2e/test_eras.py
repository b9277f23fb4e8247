"""
Every era of the Handbook, and today's, end to end over real SSH: the Handbook's
guest from nothing to installed on a FreeBSD 11 / Xen 4.7 Dom0 (whose xl has no
``type`` key: the config says ``builder = "hvm"``) and on FreeBSD 15 with the
ports' Xen 4.21; on 4.21 a key value it removed is refused before anything
changes. Each Dom0 is first made by deploys/dom0.py, and every config the
deploy writes is parsed by Xen's own libxlutil.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests import xlparse
from tests.e2e.deploy import pyinfra
from tests.e2e.test_guests_lifecycle import CFG, ISO, ISO_PATH, ISO_URL, ZVOL, handbook_guest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the simulated hosts are chroots served by sshd: needs root"),
]

# variant -> (Dom0 host data, the Xen it must run, the key the guest's type is written with)
ERAS = {
    "freebsd11-xen47": ({"xen_version": "4.7", "xen_dom0_mem": "4096M", "xen_dom0_max_vcpus": 2}, "4.7", "builder"),
    "freebsd15": ({"xen_version": "4.21", "xen_dom0_mem": "4096M", "xen_dom0_max_vcpus": 2}, "4.21", "type"),
}


@pytest.fixture(scope="module", params=sorted(ERAS))
def era(request, tmp_path_factory):
    from simhost.fleet import Fleet

    xlparse.require_libxlutil()
    variant = request.param
    dom0_data, _, _ = ERAS[variant]
    fleet = Fleet(f"/var/lib/freebsd-xen-sim/eras-{uuid.uuid4().hex[:8]}")
    fleet.add("xen1", variant)
    fleet.mirror_add(ISO_URL, ISO)
    fleet.start()
    inventory = tmp_path_factory.mktemp("inventory") / "inventory.py"
    data = {**dom0_data, "xen_bridge_members": ["em0"]}
    fleet.write_inventory(inventory, {"xen1": data})
    run = pyinfra(inventory, "deploys/dom0.py")
    assert run.returncode == 0, run.output[-3000:]
    yield variant, fleet, inventory, data
    fleet.stop()


def guests_run(era, *guests):
    _, fleet, inventory, data = era
    fleet.write_inventory(inventory, {"xen1": {**data, "xen_guests": list(guests)}})
    return pyinfra(inventory, "deploys/guests.py")


def test_1_the_dom0_runs_the_declared_xen(era):
    variant, fleet, _, _ = era
    _, xen, _ = ERAS[variant]
    running = fleet.hosts["xen1"].sim_state()["xen_version"]
    assert running and running.startswith(xen + "."), running


def test_2_the_handbooks_guest_from_nothing_to_installed(era):
    variant, fleet, _, _ = era
    _, _, type_key = ERAS[variant]
    host = fleet.hosts["xen1"]
    first = guests_run(era, handbook_guest())
    assert first.returncode == 0, first.output[-4000:]
    domain = host.sim_state()["domains"].get("freebsd")
    assert domain is not None and domain["memory"] == "1024", first.output[-4000:]
    cfg = xlparse.parse_cfg(host.read(CFG))
    assert cfg.get_string(type_key) == "hvm"
    assert not cfg.has("type" if type_key == "builder" else "builder")
    assert [xlparse.parse_disk_spec(s)["vdev"] for s in cfg.get_list("disk")] == ["hda", "hdc"]

    installed = guests_run(era, handbook_guest(installed=True))
    assert installed.returncode == 0, installed.output[-4000:]
    again = host.sim_state()["domains"].get("freebsd")
    assert again is not None and again["domid"] != domain["domid"]  # restarted from its disk
    assert [xlparse.parse_disk_spec(s)["vdev"] for s in xlparse.parse_cfg(host.read(CFG)).get_list("disk")] == ["hda"]
    assert host.volumes().get(ZVOL) is not None and host.read(ISO_PATH)

    second = guests_run(era, handbook_guest(installed=True))
    assert second.returncode == 0 and second.changed_operations() == {}, second.output[-4000:]


def test_3_a_setting_the_running_xen_removed_is_refused_with_the_reason(era):
    variant, fleet, _, _ = era
    host = fleet.hosts["xen1"]
    before = host.read(CFG)
    guest = handbook_guest(installed=True, extra={"on_crash": "restart", "device_model_version": "qemu-xen-traditional"})
    run = guests_run(era, guest)
    if variant == "freebsd15":
        assert run.returncode != 0
        assert "device_model_version = 'qemu-xen-traditional': Xen 4.21 removed qemu-xen-traditional" in run.output
        assert host.read(CFG) == before  # nothing changed
        # what xl 4.21 itself would have said at xl create (xl_parse.c of RELEASE-4.21.0)
        text = before.replace('name = "freebsd"', 'name = "trad"') + 'device_model_version = "qemu-xen-traditional"\n'
        host.write("/usr/local/etc/xen/trad.cfg", text, 0o600)
        created = host.run("/usr/local/sbin/xl create /usr/local/etc/xen/trad.cfg")
        assert created.returncode == 1
        assert 'Unknown device_model_version "qemu-xen-traditional" specified' in created.stderr
    else:
        assert run.returncode == 0, run.output[-4000:]
        assert 'device_model_version = "qemu-xen-traditional"' in host.read(CFG)


def test_4_xen_47s_xl_ignores_type_as_the_real_one_does(era):
    # xl_cmdimpl.c of RELEASE-4.7.6 (parse_config_data) reads only "builder": a config
    # with "type" alone builds a PV guest, which has neither kernel nor bootloader.
    variant, fleet, _, _ = era
    host = fleet.hosts["xen1"]
    text = host.read(CFG).replace('builder = "hvm"', 'type = "hvm"').replace('name = "freebsd"', 'name = "typed"')
    host.write("/usr/local/etc/xen/typed.cfg", text, 0o600)
    done = host.run("/usr/local/sbin/xl create /usr/local/etc/xen/typed.cfg")
    if variant == "freebsd11-xen47":
        assert done.returncode == 1
        assert "Neither kernel nor bootloader specified" in done.stderr
        assert "typed" not in host.sim_state()["domains"]
    else:
        assert done.returncode == 0, done.stderr
        host.run("/usr/local/sbin/xl destroy typed")
