"""
Guests on local ZFS volumes move between simulated Dom0s with their disks
(issue 12), end to end over real SSH: by moving the declaration (running: full
replication while it runs, a short stop, the final incremental; stopped: a
cold move), the bytes a guest wrote arrive, uuid and MACs stay, downtime and
bytes are printed, A's volumes are kept; refusals change nothing; a cut mid-way
leaves one running copy and the rerun resumes with the receive_resume_token.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.e2e.deploy import pyinfra
from tests.e2e.dom0s import dom0_fleet, live_macs, place, where

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the simulated hosts are chroots served by sshd: needs root"),
]

DOM0 = {"xen_bridge_members": ["em0"], "xen_dom0_mem": "4096M", "xen_dom0_max_vcpus": 2}
DOM0S = {"xen1": DOM0, "xen2": DOM0}
VOL = "zroot/xen/web-disk0"
FAR = 5 * 2**30 + 123   # well inside the Handbook's 20G volume


def handbook_guest(name="web", **changes):
    guest = {
        "name": name,
        "memory": 512,
        "vcpus": 1,
        "disks": [{"zvol": f"zroot/xen/{name}-disk0", "size": "20G"}],
        "vifs": [{"bridge": "bridge0"}],
        "vnc": None,
        "installed": True,
        "move_disks": True,
    }
    guest.update(changes)
    return guest


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    yield from dom0_fleet("zfsmove", DOM0S, tmp_path_factory)


def deploy(fleet, placement, extra=None, *args):
    return pyinfra(place(fleet, placement, extra), "deploys/guests.py", *args)


def converged(fleet, placement, extra=None):
    first = deploy(fleet, placement, extra)
    assert first.returncode == 0, first.output[-5000:]
    second = deploy(fleet, placement, extra)
    assert second.changed_operations() == {}, second.output[-4000:]
    return first


def test_1_moving_the_declaration_moves_the_running_guest_with_its_bytes(fleet):
    from simhost import zfs

    xen1, xen2 = fleet.hosts["xen1"], fleet.hosts["xen2"]
    converged(fleet, {"xen1": [handbook_guest()]})
    before = where(fleet)["xen1"]
    mac = live_macs(xen1)
    zfs.write_volume(xen1, VOL, FAR, b"handbook guest data " * 100)
    zfs.write_volume(xen1, VOL, 0, b"MBR!")
    run = converged(fleet, {"xen2": [handbook_guest()]})
    assert "guest web moves from xen1 to xen2 with its disks" in run.output
    assert list(where(fleet)) == ["xen2"]
    assert where(fleet)["xen2"]["uuid"] == before["uuid"]
    assert live_macs(xen2) == mac
    assert zfs.read_volume(xen2, VOL, FAR, 2000) == b"handbook guest data " * 100
    assert zfs.read_volume(xen2, VOL, 0, 4) == b"MBR!"
    volume = xen2.volumes()[VOL]
    assert volume["volsize"] == 20 * 2**30 and volume["volmode"] == "dev"
    assert volume["refreservation"] == xen1.volumes()[VOL]["refreservation"] > 0   # thick, as declared
    assert "downtime" in run.output and " sent in " in run.output
    assert "its volumes here are kept with their last snapshot" in run.output
    # A keeps its volume and the snapshot; its config and autostart entry are gone
    assert VOL in xen1.volumes()
    assert any(n.startswith(f"{VOL}@xenmove-") and n.endswith("-final") for n in xen1.volumes())
    assert not xen1.exists("/usr/local/etc/xen/web.cfg")
    assert "web" not in xen1.read("/etc/rc.conf").split('xendomains_list="')[1].split('"')[0].split()
    assert 'xendomains_list="web"' in xen2.read("/etc/rc.conf")
    # the guest was shut down on xen1, not destroyed
    assert [e["how"] for e in xen1.domain_ends() if e["name"] == "web"][-1] == "shutdown"


def test_2_migrate_py_moves_it_back_sending_only_what_changed(fleet):
    from simhost import zfs

    xen1, xen2 = fleet.hosts["xen1"], fleet.hosts["xen2"]
    zfs.write_volume(xen2, VOL, FAR, b"written on xen2")
    inventory = place(fleet, {"xen2": [handbook_guest()]})
    run = pyinfra(inventory, "deploys/migrate.py", "--data", "migrate_guest=web", "--data", "migrate_to=xen1",
                  "--data", "migrate_disks=true")
    assert run.returncode == 0, run.output[-5000:]
    assert list(where(fleet)) == ["xen1"]
    assert zfs.read_volume(xen1, VOL, FAR, 15) == b"written on xen2"
    assert "now move guest web's entry in xen_guests from xen2 to xen1" in run.output
    # xen1 had the earlier copy: an incremental, not 20G nor a full stream
    assert "round 1: 1.0 MiB sent" in run.output or "round 1: 1.1 MiB sent" in run.output, run.output[-3000:]
    converged(fleet, {"xen1": [handbook_guest()]})
    assert list(where(fleet)) == ["xen1"]


def test_3_stopped_guest_moves_cold(fleet):
    from simhost import zfs

    xen1, xen2 = fleet.hosts["xen1"], fleet.hosts["xen2"]
    converged(fleet, {"xen1": [handbook_guest("db", state="stopped")]})
    zfs.write_volume(xen1, "zroot/xen/db-disk0", 7, b"cold bytes")
    run = converged(fleet, {"xen2": [handbook_guest("db", state="stopped")]})
    assert "it was stopped" in run.output
    assert zfs.read_volume(xen2, "zroot/xen/db-disk0", 7, 10) == b"cold bytes"
    assert xen2.exists("/usr/local/etc/xen/db.cfg") and not xen1.exists("/usr/local/etc/xen/db.cfg")
    assert where(fleet, "db") == {}


@pytest.mark.parametrize("case", ["no room", "dataset exists", "no ssh"])
def test_4_refusals_change_nothing(fleet, case):
    xen1, xen2 = fleet.hosts["xen1"], fleet.hosts["xen2"]
    name = "ref" + case.replace(" ", "")[:4]
    guest = handbook_guest(name, disks=[{"zvol": f"zroot/xen/{name}-disk0", "size": "1G"}])
    converged(fleet, {"xen1": [guest]})
    extra = {}
    if case == "no room":
        xen2.write("/.sim/zfs/pool_bytes", f"{5 * 2**30}\n")
        message = "the pool zroot there has only"
    elif case == "dataset exists":
        assert xen2.run(f"zfs create -p -V 1G zroot/xen/{name}-disk0").returncode == 0
        message = f"a dataset zroot/xen/{name}-disk0 already exists there and is not this move's"
    else:
        extra = {"xen2": {"xen_migrate_ssh": "ssh -p 1"}}
        message = "this Dom0 cannot reach xen2 with 'ssh -p 1'"
    volumes = xen2.run("zfs list -H -t all -o name").stdout
    try:
        run = deploy(fleet, {"xen2": [guest]}, extra)
        assert run.returncode != 0
        assert message in run.output, run.output[-4000:]
        assert list(where(fleet, name)) == ["xen1"]
        assert xen2.run("zfs list -H -t all -o name").stdout == volumes
        assert not xen2.exists(f"/usr/local/etc/xen/{name}.cfg")
        assert not xen1.run(f"zfs list -H -t snapshot -o name zroot/xen/{name}-disk0").stdout
    finally:
        xen2.write("/.sim/zfs/pool_bytes", f"{240 * 2**30}\n")
        if case == "dataset exists":
            xen2.run(f"zfs destroy zroot/xen/{name}-disk0")
        converged(fleet, {})


def cut_when(fleet, host, predicate, timeout=60):
    def watch():
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                fleet.cut_ssh(host, clients=True)
                return
            time.sleep(0.05)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def receiving(host, suffix):
    ps = host.run("ps ax -o args 2>/dev/null || ps").stdout
    return any("zfs receive" in line for line in ps.splitlines()) and suffix


@pytest.mark.parametrize("phase", ["full", "final"])
def test_5_a_cut_leaves_one_running_copy_and_the_rerun_resumes(fleet, phase):
    from simhost import zfs

    xen1, xen2 = fleet.hosts["xen1"], fleet.hosts["xen2"]
    name = f"cut{phase}"
    vol = f"zroot/xen/{name}-disk0"
    guest = handbook_guest(name, disks=[{"zvol": vol, "size": "1G", "sparse": True}])
    converged(fleet, {"xen1": [guest]})
    for i in range(8):
        zfs.write_volume(xen1, vol, i * 2**20, bytes([97 + i]) * 2**20)
    zfs.slow_send(xen1, 300)
    guest_stops = threading.Event()
    writer = None
    if phase == "full":
        # the first partial record appears on xen2: the full stream is under way
        predicate = lambda: any(p.name.isdigit() for p in xen2.path(f"/.sim/zfs/data/{vol}").glob("*"))  # noqa: E731
    else:
        predicate = lambda: any(n.endswith("-final") for n in xen1.volumes()) and \
            xen2.path(f"/.sim/zfs/recv/{vol}").exists()  # noqa: E731

        def guest_writes():
            # make the final incremental carry records too: the guest writes while the rounds run
            for k in range(1, 40):
                if guest_stops.wait(0.3 * k) or not xen1.path(f"/.sim/xen/domains/{name}").is_dir():
                    return  # a stopped guest writes nothing
                zfs.write_volume(xen1, vol, 9 * 2**20, b"late%d" % k)

        writer = threading.Thread(target=guest_writes, daemon=True)
        writer.start()
    cutter = cut_when(fleet, "xen1", predicate)
    run = deploy(fleet, {"xen2": [guest]})
    cutter.join(timeout=1)
    guest_stops.set()
    if writer is not None:
        writer.join(timeout=5)
    assert run.returncode != 0, run.output[-4000:]
    # one running copy, on xen1, with its data
    assert list(where(fleet, name)) == ["xen1"], run.output[-4000:]
    token = xen2.run(f"zfs get -H -o value receive_resume_token {vol}").stdout.strip()
    assert token.startswith("1-"), (token, run.output[-3000:])
    zfs.slow_send(xen1, None)
    rerun = converged(fleet, {"xen2": [guest]})
    assert f"resuming the interrupted receive of {vol} on xen2" in rerun.output
    assert list(where(fleet, name)) == ["xen2"]
    for i in range(8):
        assert zfs.read_volume(xen2, vol, i * 2**20 + 5, 2) == bytes([97 + i]) * 2
    assert zfs.read_volume(xen2, vol, 9 * 2**20, 4) == zfs.read_volume(xen1, vol, 9 * 2**20, 4)


def test_6_safety_snapshots_before_a_restart_and_absent_keeping_the_newest(fleet):
    xen1 = fleet.hosts["xen1"]
    vol = "zroot/xen/safe-disk0"
    guest = handbook_guest("safe", disks=[{"zvol": vol, "size": "1G", "sparse": True}], move_disks=False)
    converged(fleet, {"xen1": [guest]})
    assert not [n for n in xen1.volumes() if n.startswith(f"{vol}@")]   # nothing restarted: no snapshot

    def safety():
        return sorted(n.split("@")[1] for n in xen1.volumes() if n.startswith(f"{vol}@xensafe-"))

    run = converged(fleet, {"xen1": [{**guest, "memory": 640, "restart_on_change": True}]})
    assert "restarting guest safe" in run.output
    [first] = safety()
    assert first.endswith("-restart")
    time.sleep(1.1)   # a new timestamp
    run = converged(fleet, {"xen1": [{**guest, "memory": 768, "restart_on_change": True}]},
                    {"xen1": {"xen_snapshot_keep": 1}})
    [second] = safety()
    assert second != first and second.endswith("-restart")
    time.sleep(1.1)
    converged(fleet, {"xen1": [{**guest, "state": "absent"}]}, {"xen1": {"xen_snapshot_keep": 2}})
    assert [s.rsplit("-", 1)[1] for s in safety()] == ["restart", "absent"]
    assert where(fleet, "safe") == {}
    # the guest key turns them off
    converged(fleet, {"xen1": [{**guest, "safety_snapshots": False}]})
    converged(fleet, {"xen1": [{**guest, "safety_snapshots": False, "memory": 640, "restart_on_change": True}]})
    assert len(safety()) == 2
    # destroy_disks destroys the volume with our snapshots (zfs destroy refuses a volume with snapshots)
    run = converged(fleet, {"xen1": [{**guest, "state": "absent", "destroy_disks": True}]})
    assert "safety snapshots of zroot/xen/safe-disk0 destroyed with the volumes" in run.output
    assert not [n for n in xen1.volumes() if n.startswith(vol)]


def test_7_the_volumes_a_move_left_go_when_the_old_dom0s_host_data_lists_them(fleet):
    from simhost import zfs

    xen1, xen2 = fleet.hosts["xen1"], fleet.hosts["xen2"]
    vol = "zroot/xen/left-disk0"
    guest = handbook_guest("left", disks=[{"zvol": vol, "size": "1G", "sparse": True}])
    converged(fleet, {"xen1": [guest]})
    zfs.write_volume(xen1, vol, 4096, b"left data")
    run = converged(fleet, {"xen2": [guest]})
    assert "list them in this Dom0's xen_destroy_left_volumes" in run.output
    assert vol in xen1.volumes() and list(where(fleet, "left")) == ["xen2"]
    # refused, nothing destroyed: a volume no move of ours sent, and one that holds an admin's snapshot
    assert xen1.run("zfs create -s -V 1G zroot/xen/admins-own && zfs snapshot "
                    f"{vol}@before-upgrade").returncode == 0
    run = deploy(fleet, {"xen2": [guest]}, {"xen1": {"xen_destroy_left_volumes": [vol, "zroot/xen/admins-own"]}})
    assert run.returncode != 0
    assert f"xen_destroy_left_volumes: {vol} is not destroyed: it has snapshots this project did not take " \
           "(before-upgrade)" in run.output
    assert "xen_destroy_left_volumes: zroot/xen/admins-own is not destroyed: no move of this project sent it" \
        in run.output
    assert vol in xen1.volumes() and "zroot/xen/admins-own" in xen1.volumes()
    # the admin drops the snapshot: the left volume goes, with the move's snapshots; xen2's copy stays
    assert xen1.run(f"zfs destroy {vol}@before-upgrade").returncode == 0
    run = converged(fleet, {"xen2": [guest]}, {"xen1": {"xen_destroy_left_volumes": [vol]}})
    assert f"volume {vol} left by a move destroyed (zfs destroy), with its snapshots: guest left on xen2 " \
           "holds its last snapshot xenmove-" in run.output
    assert not [n for n in xen1.volumes() if n.startswith(vol)]
    assert zfs.read_volume(xen2, vol, 4096, 9) == b"left data" and list(where(fleet, "left")) == ["xen2"]
    assert "zroot/xen/admins-own" in xen1.volumes()
