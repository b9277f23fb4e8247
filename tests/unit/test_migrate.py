"""Live-migration decisions: who moves where, and what refuses a move."""

from __future__ import annotations

import dataclasses
import shlex

from operations import migrate
from spec.transport import migrate_transport
from tests.opsupport import run_op
from tests.unit.test_guest_ops import dom0, handbook_guest, live, running

SHARED = "zroot/xen/freebsd-disk0"


class FakeDom0(migrate.Dom0):
    def state(self, arriving=None):
        return self.host  # the test stores the GuestsHost in place of a pyinfra host


class NeverRead(FakeDom0):
    """A Dom0 the code under test must not read."""

    def state(self, arriving=None):
        raise AssertionError(f"{self.name} was read")


def fleet(placement: dict[str, list], states: dict) -> migrate.Fleet:
    return migrate.Fleet({
        name: FakeDom0(name, states.get(name, dom0()), tuple(guests), name, "ssh")
        for name, guests in placement.items()
    })


def test_transient_migration_names_are_the_same_guest():
    assert migrate.base_name("web--incoming") == "web"
    assert migrate.base_name("web--migratedaway") == "web"
    assert migrate.base_name("web") == "web"


def shared_target(**changes):
    state = dom0(volumes={SHARED: object()})
    return dataclasses.replace(state, **changes)


def test_shared_storage_bridges_and_memory_pass():
    guest = handbook_guest(installed=True)
    source = running(guest, cdrom=False)
    assert migrate.migration_problems(guest, source, shared_target(), "xen2") == []


def test_local_storage_is_refused_with_the_reason():
    guest = handbook_guest(installed=True)
    [problem] = migrate.migration_problems(guest, running(guest, cdrom=False), dom0(), "xen2")
    assert problem.startswith(f"guest freebsd cannot move to xen2: its disk /dev/zvol/{SHARED} does not exist there")
    assert "shared zvol" in problem


def test_missing_bridge_low_memory_and_older_xen_are_refused():
    guest = handbook_guest(installed=True)
    source = running(guest, cdrom=False)
    target = shared_target(interfaces=("em0",), xen_info={"free_memory": 512, "xen_major": 4, "xen_minor": 11})
    problems = migrate.migration_problems(guest, source, target, "xen2")
    assert any("older than here" in p for p in problems)
    assert any("its bridge bridge0 does not exist there" in p for p in problems)
    assert any("it needs 1024M and only 512M is free there" in p for p in problems)


def test_target_without_xen_is_refused():
    guest = handbook_guest()
    problems = migrate.migration_problems(guest, running(guest), dom0(domains=None, xl_error="cannot init xl context"), "b")
    assert problems == ["guest freebsd cannot move to b: Xen is not running there (cannot init xl context)"]


def test_the_probe_runs_the_transport_exactly_as_xl_will():
    # xl_migrate.c: sh -c "exec <transport> <host> xl migrate-receive"; the probe runs true instead.
    command = migrate.ssh_probe_command("ssh -p 2222", "xen2.example.org")
    words = shlex.split(command)
    assert words[:3] == ["timeout", str(migrate.PROBE_SECONDS), "sh"]
    assert words[3] == "-c"
    rune = shlex.split(words[4])
    assert rune == ["exec", *shlex.split(migrate_transport("ssh -p 2222")), "xen2.example.org", "true"]
    assert rune[1:4] == ["ssh", "-p", "2222"]
    assert command.endswith("</dev/null")


def test_a_transport_with_arguments_reaches_xl_as_one_argument(monkeypatch):
    target = FakeDom0("xen2", None, (), "xen2.example.org", "ssh -p 2222")
    [migrate_command, remove] = run_op(migrate.live_migrate, monkeypatch, migrate, "noop", None,
                                       guest_name="web", target=target)
    words = shlex.split(migrate_command)
    assert words == ["xl", "migrate", "-s", migrate_transport("ssh -p 2222"), "web", "xen2.example.org"]
    assert words[3].startswith("ssh -p 2222 ")
    assert remove == "rm -f /usr/local/etc/xen/web.cfg"


def test_a_dom0_whose_address_is_unusable_is_no_migration_target():
    target = FakeDom0("xen 2", None, (), None, "ssh", "set xen_migrate_address")
    guest = handbook_guest(installed=True)
    assert migrate.move_problems(None, guest, running(guest), target) == [
        "guest freebsd cannot move to xen 2: set xen_migrate_address",
    ]


def test_live_memory_not_the_declaration_decides_room_on_the_target():
    guest = handbook_guest(installed=True)
    domain, entry = live(guest, cdrom=False, memory=2000)
    source = dataclasses.replace(dom0(), domains=[domain], live_configs={guest.name: entry})
    target = shared_target(xen_info={"free_memory": 1500, "xen_major": 4, "xen_minor": 19})
    assert migrate.migration_problems(guest, source, target, "xen2") == [
        "guest freebsd cannot move to xen2: it needs 2000M and only 1500M is free there",
    ]


def test_a_stopped_guests_disks_left_on_its_old_dom0_are_stranded():
    guest = handbook_guest(installed=True)
    path = f"/dev/zvol/{SHARED}"
    with_disk, without = dom0(volumes={SHARED: object()}), dom0()
    origin = FakeDom0("xen1", with_disk, (), "xen1", "ssh")
    assert migrate.stranded_disks(guest, owner=without, origin=origin) == [path]
    assert migrate.stranded_disks(guest, owner=with_disk, origin=origin) == []  # shared storage
    assert migrate.stranded_disks(guest, owner=with_disk, origin=NeverRead("xen1", None, (), "xen1", "ssh")) == []
    empty = FakeDom0("xen1", without, (), "xen1", "ssh")
    assert migrate.stranded_disks(guest, owner=without, origin=empty) == []  # new disks: nothing to lose
    problem = migrate.stranded_problem(guest, without, FakeDom0("xen1", with_disk, (), "xen1", "ssh"))
    assert problem.startswith(f"guest freebsd is stopped on xen1, where its config is, and its disk {path} is there")
    assert problem.endswith("remove /usr/local/etc/xen/freebsd.cfg on xen1")
    assert migrate.stranded_problem(guest, with_disk, FakeDom0("xen1", with_disk, (), "xen1", "ssh")) is None


def test_the_fleet_is_validated_once_per_inventory():
    from pyinfra.api import Inventory

    guest = {"name": "web", "memory": 512, "disks": [{"file": "/shared/web.img", "size": "1G"}]}
    dom0 = {"xen_bridge_members": ["em0"]}
    inventory = Inventory(([("xen1", {}), ("xen2", {"xen_guests": [guest]})], dom0))
    first = migrate.Fleet.from_inventory(inventory)
    assert migrate.Fleet.from_inventory(inventory) is first
    assert first.owner("web").name == "xen2"
    other = Inventory(([("xen1", {"xen_guests": [guest]})], dom0))
    assert migrate.Fleet.from_inventory(other).owner("web").name == "xen1"


def test_a_host_with_bad_data_fails_alone_and_declares_nothing():
    from pyinfra.api import Inventory

    guest = {"name": "web", "memory": 512, "disks": [{"file": "/shared/web.img", "size": "1G"}]}
    dom0 = {"xen_bridge_members": ["em0"]}
    inventory = Inventory(([("xen1", {"xen_guests": [guest]}), ("xen2", {"xen_dom0_mem": "lots"})], dom0))
    fleet = migrate.Fleet.from_inventory(inventory)
    assert fleet.owner("web").name == "xen1"
    assert fleet.dom0s["xen2"].guests == ()
