"""
The fleet status end to end over real SSH: two simulated Dom0s sharing
storage, a guest migrated with deploys/migrate.py (so it runs on xen2 while
xen1 declares it), a stopped guest, and a domain created by hand that nobody
declares. deploys/status.py prints one table (or one JSON document) for the
fleet, costs one remote command per host, never shows the VNC password, and
shows a host it cannot read as unreadable.

Also here, on the same fleet: deploys/migrate.py says which inventory entry to
move only once the migration has succeeded.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid

import pytest

from benchmarks.__main__ import sshd_request_logging
from benchmarks.sshdlog import LogCursor, count_requests
from tests.e2e.deploy import PYINFRA, ROOT, pyinfra
from tests.e2e.dom0s import cut_mid_migration

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the simulated hosts are chroots served by sshd: needs root"),
]

DOM0 = {"xen_bridge_members": ["em0"], "xen_dom0_mem": "4096M", "xen_dom0_max_vcpus": 2}
PASSWORD = "pw4S7at"
WEB = {
    "name": "web",
    "memory": 512,
    "vcpus": 1,
    "disks": [{"file": "/shared/web.img", "size": "1G"}],
    "vifs": [{"bridge": "bridge0", "mac": "00:16:3e:00:40:01"}],
    "vnc": {"listen": "127.0.0.1", "password": PASSWORD},
    "serial": "pty",
    "installed": True,
}
IDLE = {
    "name": "idle",
    "memory": 256,
    "vcpus": 1,
    "disks": [{"file": "/shared/idle.img", "size": "1G"}],
    "vnc": None,
    "installed": True,
    "state": "stopped",
}
ROGUE_CFG = 'name = "rogue"\ntype = "hvm"\nmemory = 128\nvcpus = 1\nvnc = 0\n'
MOVE_MESSAGE = "now move guest web's entry in xen_guests from xen1 to xen2"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    from simhost.fleet import Fleet

    with sshd_request_logging():  # one "Starting session" line per remote command
        fleet = Fleet(f"/var/lib/freebsd-xen-sim/status-{uuid.uuid4().hex[:8]}")
        try:
            for name in ("xen1", "xen2"):
                fleet.add(name, "freebsd14")
            fleet.share_storage("/shared")
            fleet.start()
            inventory = tmp_path_factory.mktemp("inventory") / "inventory.py"
            fleet.inventory = inventory
            write(fleet, {"xen1": [WEB], "xen2": [IDLE]})
            run = pyinfra(inventory, "deploys/dom0.py")
            assert run.returncode == 0, run.output[-3000:]
            run = pyinfra(inventory, "deploys/guests.py")
            assert run.returncode == 0, run.output[-3000:]
            yield fleet
        finally:
            fleet.stop()


def write(fleet, placement, extra=None):
    data = {name: {**DOM0, **(extra or {}).get(name, {}), "xen_guests": placement.get(name, [])}
            for name in ("xen1", "xen2")}
    fleet.write_inventory(fleet.inventory, data)
    return fleet.inventory


def running_on(fleet, guest="web") -> list[str]:
    return [name for name, host in fleet.hosts.items() if guest in host.sim_state()["domains"]]


def status(fleet, *args) -> subprocess.CompletedProcess:
    """deploys/status.py with stdout (the report) and stderr (pyinfra's log) apart."""

    return subprocess.run(
        [PYINFRA, "-y", str(fleet.inventory), "deploys/status.py", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=dict(os.environ, COLUMNS="200"),
    )


def test_1_a_failed_migration_does_not_say_to_move_the_entry(fleet):
    # The transfer takes 4 s; xen2's sshd is cut meanwhile: xl resumes web on xen1.
    cut = cut_mid_migration(fleet, fleet.inventory, "deploys/migrate.py", "--data", "migrate_guest=web",
                            "--data", "migrate_to=xen2")
    output = cut.output
    assert cut.returncode != 0, output[-3000:]
    assert running_on(fleet) == ["xen1"], output[-3000:]
    assert MOVE_MESSAGE not in output, output[-3000:]


def test_2_a_successful_migration_says_to_move_the_entry_after_it(fleet):
    run = pyinfra(fleet.inventory, "deploys/migrate.py", "--data", "migrate_guest=web", "--data", "migrate_to=xen2")
    assert run.returncode == 0, run.output[-3000:]
    assert running_on(fleet) == ["xen2"]
    assert MOVE_MESSAGE in run.output
    # said once the migration has run, not while preparing
    assert run.output.index(MOVE_MESSAGE) > run.output.index("--> Beginning operation run...")


@pytest.fixture(scope="module")
def with_rogue(fleet):
    """web runs on xen2 (test 2 moved it there, xen1 still declares it) and xen2 runs a domain nobody declares."""

    if running_on(fleet) != ["xen2"]:
        run = pyinfra(fleet.inventory, "deploys/migrate.py", "--data", "migrate_guest=web", "--data", "migrate_to=xen2")
        assert run.returncode == 0, run.output[-3000:]
    xen2 = fleet.hosts["xen2"]
    xen2.write("/root/rogue.cfg", ROGUE_CFG)
    created = xen2.run("xl create /root/rogue.cfg")
    assert created.returncode == 0, created.stdout + created.stderr
    return fleet


def test_3_the_status_table(with_rogue):
    fleet = with_rogue
    cursors = {name: LogCursor(fleet.servers[name].workdir / "sshd.log") for name in fleet.hosts}
    done = status(fleet)
    time.sleep(0.3)  # let each per-connection sshd finish logging
    assert done.returncode == 0, done.stderr[-3000:]
    for name, cursor in cursors.items():
        requests = count_requests(cursor.read_new())
        assert (requests.exec, requests.sftp, requests.other) == (1, 0, 0), (name, requests)
    table = done.stdout
    assert table.count("Dom0s") == 1 and table.count("Guests") == 1, table
    assert PASSWORD not in table + done.stderr
    sections = {part.split("\n", 1)[0]: part for part in table.split("\n\n")}
    assert list(sections) == ["Dom0s", "Guests", "Consoles"], table
    lines = {line.split()[0]: line for name in ("Dom0s", "Guests") for line in sections[name].splitlines()[3:]}
    # Dom0 rows: release, Xen, Dom0 memory/vCPUs, free memory, memory declared for its guests
    assert lines["xen1"].split()[1:5] == ["14.1-RELEASE", xen_version(fleet, "xen1"), "4096M", "2"], table
    assert "512M" in lines["xen1"].split()  # web is declared on xen1
    assert "256M" not in lines["xen2"].split()[5:7], table  # idle is declared stopped
    web = lines["web"].split()
    assert web[1:5] == ["xen1", "xen2", "running", "512M"], table
    assert "runs on xen2, declared on xen1: deploys/guests.py moves it back" in lines["web"]
    # xl uptime of the domUs (a bare `xl uptime` fails on FreeBSD: no /proc/uptime for Domain-0's)
    assert re.fullmatch(r"\d+:\d\d:\d\d", web[6]), table
    idle = lines["idle"].split()
    assert idle[1:4] == ["xen2", "-", "not"], table  # "not running", as declared: no drift
    assert lines["idle"].rstrip().endswith("none"), table
    rogue = lines["rogue"].split()
    assert rogue[1:4] == ["UNMANAGED", "xen2", "running"], table
    assert re.fullmatch(r"\d+:\d\d:\d\d", rogue[6]), table
    assert "unmanaged: declared on no Dom0" in lines["rogue"]
    ssh = f"ssh -t -p {fleet.host_data('xen2')['ssh_port']} -i {fleet.host_data('xen2')['ssh_key']} root@127.0.0.1"
    consoles = sections["Consoles"]
    assert f"web on xen2:\n  serial: {ssh} xl console web\n  VNC: " in consoles, table
    vnc = consoles.split("web on xen2:")[1].splitlines()[2]
    domid = fleet.hosts["xen2"].sim_state()["domains"]["web"]["domid"]
    if fleet.hosts["xen2"].run(f"xenstore-read /local/domain/{domid}/console/vnc-port").returncode == 0:
        port = fleet.hosts["xen2"].run(f"xenstore-read /local/domain/{domid}/console/vnc-port").stdout.strip()
        tunnel = f"ssh -N -L {port}:127.0.0.1:{port} -p {fleet.host_data('xen2')['ssh_port']}"
        assert vnc.startswith(f"  VNC: {tunnel}") and vnc.endswith(f"localhost:{port}"), table
    else:  # this simulator has no xenstore-read: the port is unknown, and the line says where it is
        assert vnc == f"  VNC: port unknown: xenstore-read /local/domain/{domid}/console/vnc-port on xen2", table
    assert f"rogue on xen2:\n  serial: {ssh} xl console rogue\n  VNC: none" in consoles, table
    assert "idle on" not in consoles  # not running: no console


def xen_version(fleet, name) -> str:
    return fleet.hosts[name].run("xl info").stdout.split("xen_version")[1].split(":", 1)[1].split()[0]


def test_4_the_status_as_json(with_rogue):
    fleet = with_rogue
    done = status(fleet, "--data", "status_format=json")
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(done.stdout)  # stdout is the document alone
    assert PASSWORD not in done.stdout + done.stderr
    dom0s = {d["name"]: d for d in document["dom0s"]}
    assert dom0s["xen1"]["readable"] and dom0s["xen2"]["readable"]
    assert dom0s["xen1"]["dom0_memory_mib"] == 4096 and dom0s["xen1"]["dom0_vcpus"] == 2
    assert dom0s["xen1"]["declared_memory_mib"] == 512 and dom0s["xen2"]["declared_memory_mib"] == 0
    assert dom0s["xen2"]["free_memory_mib"] < dom0s["xen1"]["free_memory_mib"]  # xen2 runs web and rogue
    guests = {g["name"]: g for g in document["guests"]}
    web = guests["web"]
    assert (web["declared_on"], web["running_on"], web["state"], web["memory_mib"], web["vcpus"]) == (
        "xen1", ["xen2"], "running", 512, 1)
    assert isinstance(web["uptime_seconds"], int) and web["uptime_seconds"] >= 0
    assert web["autostart"] is True  # xen1's rc.conf still lists it (it is declared there)
    assert web["consoles"]["xen2"]["serial"].startswith("ssh -t -p ")
    assert web["consoles"]["xen2"]["serial"].endswith(" root@127.0.0.1 xl console web")
    assert web["consoles"]["xen2"]["vnc"]["listen"] == "127.0.0.1"
    assert guests["rogue"]["unmanaged"] and guests["rogue"]["running_on"] == ["xen2"]
    assert guests["idle"]["state"] == "not running" and guests["idle"]["drift"] == []
    assert document["unreadable"] == []


def test_5_an_unreadable_dom0_is_shown_as_such_and_fails_the_run(with_rogue):
    fleet = with_rogue
    # Without sysctl(8) xen1 cannot say which release it runs: its read is incomplete.
    xen1 = fleet.hosts["xen1"]
    xen1.path("/sbin/sysctl").rename(xen1.path("/sbin/sysctl.keep"))
    try:
        done = status(fleet, "--data", "status_format=json")
    finally:
        xen1.path("/sbin/sysctl.keep").rename(xen1.path("/sbin/sysctl"))
    assert done.returncode != 0, done.stderr[-3000:]
    document = json.loads(done.stdout)
    dom0s = {d["name"]: d for d in document["dom0s"]}
    assert document["unreadable"] == ["xen1"], document
    assert not dom0s["xen1"]["readable"] and dom0s["xen1"]["error"]
    assert "cannot read this Dom0's status" in done.stderr
    guests = {g["name"]: g for g in document["guests"]}
    assert guests["web"]["running_on"] == ["xen2"]  # what xen2 said still shows


def test_6_a_dry_run_prints_the_status_too(with_rogue):
    dry = status(with_rogue, "--dry")
    assert dry.returncode == 0, dry.stderr[-3000:]
    guests = dry.stdout.split("\n\n")[1]
    assert guests.startswith("Guests") and "\nweb " in guests and "\nrogue " in guests, dry.stdout


def test_7_limit_reads_fewer_dom0s_and_says_the_others_are_unknown(with_rogue):
    done = status(with_rogue, "--limit", "xen1", "--data", "status_format=json")
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(done.stdout)
    dom0s = {d["name"]: d for d in document["dom0s"]}
    assert dom0s["xen1"]["readable"] and dom0s["xen2"]["error"] == "not read: outside --limit"
    # web runs on xen2, which was not read: unknown, not "not running"
    web = {g["name"]: g for g in document["guests"]}["web"]
    assert web["state"] == "unknown" and web["running_on"] == []


def test_8_every_dom0_unreadable_still_prints_the_status(with_rogue):
    hosts = with_rogue.hosts.values()
    for host in hosts:
        host.path("/sbin/sysctl").rename(host.path("/sbin/sysctl.keep"))
    try:
        done = status(with_rogue, "--data", "status_format=json")
    finally:
        for host in hosts:
            host.path("/sbin/sysctl.keep").rename(host.path("/sbin/sysctl"))
    assert done.returncode != 0
    document = json.loads(done.stdout)
    assert document["unreadable"] == ["xen1", "xen2"]
    assert {g["state"] for g in document["guests"]} == {"unknown"}
