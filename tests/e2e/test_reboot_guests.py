"""
Guests across Dom0 reboots, end to end over real SSH, on a simulated FreeBSD
14 Dom0 that behaves as FreeBSD does (simhost): /etc/rc runs rc.d scripts with
PATH=/sbin:/bin:/usr/sbin:/usr/bin, `reboot` skips rc.shutdown while
`shutdown -r now` runs it, init cuts rc.shutdown after kern.init_shutdown_timeout.

Three guests: db and web autostart (declared in that order; web was installed
from a cdrom and boots from its disk), scratch runs but does not autostart.
The admin set a short kern.init_shutdown_timeout (15 s, sysctl.conf) and
rcshutdown_timeout (30 s, rc.conf), and the guests get 20 s to shut down: the
guests deploy must raise both, or a hung guest would cost the others their
shutdown.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest

from tests.e2e.deploy import pyinfra

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the simulated hosts are chroots served by sshd: needs root"),
]


DOM0 = {"xen_dom0_mem": "4096M", "xen_dom0_max_vcpus": 2, "xen_bridge_members": ["em0"]}
SHUTDOWN_TIMEOUT = 20
ADMIN_INIT_SHUTDOWN_TIMEOUT = 15
ADMIN_RCSHUTDOWN_TIMEOUT = 30
ISO_PATH = "/var/lib/xen/iso/web.iso"


def guest(name: str, **changes) -> dict:
    data = {
        "name": name,
        "memory": 256,
        "vcpus": 1,
        "type": "pvh",
        "disks": [{"zvol": f"zroot/xen/{name}-disk0", "size": "1G"}],
        "vifs": [{"bridge": "bridge0"}],
    }
    data.update(changes)
    return data


GUESTS = [
    guest("db"),
    # an hvm guest installed from its cdrom: it must come back booted from disk
    guest("web", type="hvm", installed=True, cdrom={"path": ISO_PATH}, vnc={"listen": "127.0.0.1"}),
    guest("scratch", autostart=False),
]


@pytest.fixture(scope="module")
def dom0(tmp_path_factory):
    from simhost.fleet import Fleet

    fleet = Fleet(f"/var/lib/freebsd-xen-sim/reboots-{uuid.uuid4().hex[:8]}")
    fleet.add("xen1", "freebsd14")
    fleet.start()
    host = fleet.hosts["xen1"]
    # The admin's own settings, shorter than FreeBSD's defaults; the first reboot into Xen applies them.
    host.write("/etc/sysctl.conf", f"kern.init_shutdown_timeout={ADMIN_INIT_SHUTDOWN_TIMEOUT}\n")
    host.write("/etc/rc.conf", host.read("/etc/rc.conf") + f'rcshutdown_timeout="{ADMIN_RCSHUTDOWN_TIMEOUT}"\n')
    inventory = tmp_path_factory.mktemp("inventory") / "inventory.py"
    fleet.write_inventory(inventory, {"xen1": DOM0})
    run = pyinfra(inventory, "deploys/dom0.py")
    assert run.returncode == 0, run.output[-3000:]
    assert sysctl(fleet, "kern.init_shutdown_timeout") == str(ADMIN_INIT_SHUTDOWN_TIMEOUT)
    deploy_guests(fleet, inventory)
    yield fleet, inventory
    fleet.stop()


def deploy_guests(fleet, inventory, **host_data):
    fleet.write_inventory(inventory, {"xen1": {**DOM0, "xen_shutdown_timeout": SHUTDOWN_TIMEOUT,
                                               "xen_guests": GUESTS, **host_data}})
    first = pyinfra(inventory, "deploys/guests.py")
    assert first.returncode == 0, first.output[-4000:]
    second = pyinfra(inventory, "deploys/guests.py")
    assert second.returncode == 0 and second.changed_operations() == {}, second.output[-4000:]
    return first


def sysctl(fleet, name: str) -> str:
    return fleet.hosts["xen1"].run(f"sysctl -n {name}").stdout.strip()


def domains(fleet) -> dict[str, dict]:
    return fleet.hosts["xen1"].sim_state()["domains"]


def over_ssh(fleet, command: str) -> subprocess.CompletedProcess:
    """``command`` run on xen1 by root over SSH, as an admin would."""

    data = fleet.host_data("xen1")
    return subprocess.run(
        ["ssh", "-i", data["ssh_key"], "-p", str(data["ssh_port"]), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
         f"root@{data['ssh_hostname']}", command],
        capture_output=True, text=True, timeout=60,
    )


# When the last power cycle of xen1 began (epoch ms): the domain ends since then are its.
last_cycle = {"ms": 0}


def shutdown_r_now(fleet, timeout: float = 120) -> float:
    """`shutdown -r now` over SSH; wait until xen1 is back. Returns how long it took."""

    host = fleet.hosts["xen1"]
    boots = host.sim_state()["boot_count"]
    last_cycle["ms"] = int(time.time() * 1000)
    began = time.monotonic()
    done = over_ssh(fleet, "shutdown -r now")
    assert done.returncode == 0, done.stderr
    fleet.wait_for_boot("xen1", boots, timeout=timeout)
    return time.monotonic() - began


def ends(fleet) -> dict[str, str]:
    """How each guest went away in the last power cycle: shutdown | destroy | poweroff (the simulator's record)."""

    since = [end for end in fleet.hosts["xen1"].domain_ends() if end["ms"] >= last_cycle["ms"]]
    assert len({end["name"] for end in since}) == len(since), since  # each guest ended once
    return {end["name"]: end["how"] for end in since}


def assert_came_back_in_order_from_disk(fleet):
    running = domains(fleet)
    assert "db" in running and "web" in running, fleet.hosts["xen1"].read("/.sim/state/rc.shutdown.log")
    # started at boot in declaration order: domids are handed out in creation order
    assert int(running["db"]["domid"]) < int(running["web"]["domid"])
    # booted from disk: no cdrom attached
    assert [line.split("\t")[3] for line in running["web"]["disks"].splitlines()] == ["0"]
    assert "scratch" not in running


def assert_every_guest_asked_and_none_cut(fleet, guests=("db", "web", "scratch")):
    """The console of the last rc.shutdown: each guest asked to shut down, none destroyed, nothing cut."""

    console = fleet.hosts["xen1"].read("/.sim/state/rc.shutdown.log")
    for name in guests:
        assert f"Shutting down Xen guest {name}." in console, console
    assert "destroying" not in console and "timeout expired" not in console, console


def test_1_the_guests_shutdown_gets_the_time_it_needs_from_rc_and_from_init(dom0):
    fleet, _ = dom0
    host = fleet.hosts["xen1"]
    # all guests are stopped at once: 20 s, 10 s to destroy, 30 s for the other services;
    # init's hard limit above rc.shutdown's own watchdog
    assert 'rcshutdown_timeout="60"' in host.read("/etc/rc.conf")
    assert f'rcshutdown_timeout="{ADMIN_RCSHUTDOWN_TIMEOUT}"' not in host.read("/etc/rc.conf")
    assert "kern.init_shutdown_timeout=90\n" in host.read("/etc/sysctl.conf")
    assert f"kern.init_shutdown_timeout={ADMIN_INIT_SHUTDOWN_TIMEOUT}\n" not in host.read("/etc/sysctl.conf")
    assert sysctl(fleet, "kern.init_shutdown_timeout") == "90"
    assert 'xendomains_list="db web"' in host.read("/etc/rc.conf")
    assert 'xendomains_enable="YES"' in host.read("/etc/rc.conf")


def test_2_after_shutdown_r_now_autostart_guests_are_back_and_scratch_stayed_stopped(dom0):
    fleet, _ = dom0
    shutdown_r_now(fleet)
    host = fleet.hosts["xen1"]
    assert host.sim_state()["last_power_via"] == "shutdown(8)"
    assert_came_back_in_order_from_disk(fleet)
    assert_every_guest_asked_and_none_cut(fleet)
    assert "not found" not in host.read("/var/log/messages")


def test_2b_and_every_guest_was_shut_down_cleanly(dom0):
    fleet, _ = dom0
    assert ends(fleet) == {"db": "shutdown", "web": "shutdown", "scratch": "shutdown"}


def test_3_one_hung_guest_costs_the_others_nothing(dom0):
    fleet, inventory = dom0
    deploy_guests(fleet, inventory)  # scratch runs again
    assert "scratch" in domains(fleet)
    host = fleet.hosts["xen1"]
    fleet.guest_behaviour("xen1", "web", "unresponsive")
    try:
        took = shutdown_r_now(fleet)
    finally:
        fleet.guest_behaviour("xen1", "web", "auto")
    console = host.read("/.sim/state/rc.shutdown.log")
    # neither init nor rc.shutdown's watchdog cut the stop
    assert "timeout expired" not in console, console
    # all guests were waited for together: one timeout, not one per guest
    assert took < SHUTDOWN_TIMEOUT + 30, took
    assert "web did not shut down within 20s, destroying it" in console
    assert "destroying it" not in console.replace("web did not shut down within 20s, destroying it", "")
    assert_came_back_in_order_from_disk(fleet)


def test_3b_and_only_the_hung_one_was_destroyed(dom0):
    fleet, _ = dom0
    assert ends(fleet) == {"db": "shutdown", "scratch": "shutdown", "web": "destroy"}


def test_4_a_deploy_reboot_that_would_leave_scratch_down_is_refused_before_anything_changes(dom0):
    fleet, inventory = dom0
    deploy_guests(fleet, inventory)
    host = fleet.hosts["xen1"]
    before = host.read("/boot/loader.conf"), host.sim_state()["boot_count"]
    fleet.write_inventory(inventory, {"xen1": {**DOM0, "xen_dom0_mem": "3072M"}})
    run = pyinfra(inventory, "deploys/dom0.py")
    assert run.returncode != 0
    assert "refusing to reboot: guest scratch runs and would not come back (not in xendomains_list)" in run.output
    assert (host.read("/boot/loader.conf"), host.sim_state()["boot_count"]) == before
    assert set(domains(fleet)) >= {"db", "web", "scratch"}


def test_4b_an_outdated_xendomains_is_not_counted_on_to_bring_guests_back(dom0):
    from operations.guests import autostart_script

    fleet, inventory = dom0
    host = fleet.hosts["xen1"]
    # only autostart guests run: without a working xendomains none of them would come back
    assert host.run("xl destroy scratch").returncode == 0
    script = "/usr/local/etc/rc.d/xendomains"
    # what the previous version installed: bare xl, which /etc/rc cannot find
    host.write(script, autostart_script().replace('XL="/usr/local/sbin/xl"', 'XL="xl"'), 0o555)
    try:
        before = host.read("/boot/loader.conf"), host.sim_state()["boot_count"]
        fleet.write_inventory(inventory, {"xen1": {**DOM0, "xen_dom0_mem": "3072M"}})
        run = pyinfra(inventory, "deploys/dom0.py")
        assert run.returncode != 0
        assert f"guests db, web run and would not come back ({script} is missing or an older version" in run.output
        assert (host.read("/boot/loader.conf"), host.sim_state()["boot_count"]) == before
    finally:
        host.write(script, autostart_script(), 0o555)
    deploy_guests(fleet, inventory)  # scratch runs again


def test_5_a_deploy_triggered_reboot_shuts_guests_down_and_brings_autostart_back(dom0):
    fleet, inventory = dom0
    host = fleet.hosts["xen1"]
    boots = host.sim_state()["boot_count"]
    fleet.write_inventory(inventory, {"xen1": {**DOM0, "xen_dom0_mem": "3072M", "xen_reboot_stops_guests": True}})
    last_cycle["ms"] = int(time.time() * 1000)
    run = pyinfra(inventory, "deploys/dom0.py")
    assert run.returncode == 0, run.output[-4000:]
    assert "rebooting (shutdown -r now)" in run.output
    assert "guests db, web, scratch are shut down cleanly by xendomains" in run.output
    assert "back by autostart, in this order: db, web; stay stopped: scratch" in run.output
    state = host.sim_state()
    assert state["boot_count"] == boots + 1 and state["last_power_via"] == "shutdown(8)"
    assert_came_back_in_order_from_disk(fleet)
    assert_every_guest_asked_and_none_cut(fleet)
    again = pyinfra(inventory, "deploys/dom0.py")
    assert again.returncode == 0 and again.changed_operations() == {}, again.output[-3000:]
    assert "scratch" not in domains(fleet)


def test_5b_and_every_guest_was_shut_down_cleanly(dom0):
    fleet, _ = dom0
    assert ends(fleet) == {"db": "shutdown", "web": "shutdown", "scratch": "shutdown"}
