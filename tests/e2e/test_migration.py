"""
Live migration end to end over real SSH between simulated Dom0s that share
storage: by moving a guest's declaration, with deploys/migrate.py, the
refusals (local storage, missing bridge, no memory, unreachable target, guest
declared twice) and an interrupted migration that converges on a rerun.
"""

from __future__ import annotations

import os

import pytest

from tests.e2e.deploy import Run, dry_run, plan_lines, pyinfra
from tests.e2e.dom0s import cut_mid_migration, dom0_fleet, live_macs, place, where

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the simulated hosts are chroots served by sshd: needs root"),
]

DOM0 = {"xen_bridge_members": ["em0"], "xen_dom0_mem": "4096M", "xen_dom0_max_vcpus": 2}
DOM0S = {"xen1": DOM0, "xen2": DOM0, "xen3": {**DOM0, "xen_dom0_mem": "14G"}}


def shared_guest(name="web", **changes):
    guest = {
        "name": name,
        "memory": 512,
        "vcpus": 1,
        "disks": [{"file": f"/shared/{name}.img", "size": "1G"}],
        # web's MAC is derived from its name: it must survive the move
        "vifs": [{"bridge": "bridge0"} if name == "web" else {"bridge": "bridge0", "mac": "00:16:3e:00:10:02"}],
        "vnc": None,
        "installed": True,
    }
    guest.update(changes)
    return guest


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    yield from dom0_fleet("migrate", DOM0S, tmp_path_factory, shared="/shared")


def converge(fleet, placement, extra=None, deploy="deploys/guests.py") -> Run:
    inventory = place(fleet, placement, extra)
    first = pyinfra(inventory, deploy)
    assert first.returncode == 0, first.output[-4000:]
    second = pyinfra(inventory, deploy)
    assert second.changed_operations() == {}, second.output[-4000:]
    assert "awaits a restart" not in second.output, second.output[-4000:]
    return first


def test_1_moving_the_declaration_migrates_the_running_guest(fleet):
    converge(fleet, {"xen1": [shared_guest()]})
    [(host, before)] = where(fleet).items()
    assert host == "xen1"
    macs = live_macs(fleet.hosts["xen1"])
    dry = dry_run(place(fleet, {"xen2": [shared_guest()]}), "deploys/guests.py")
    planned = plan_lines(dry.output)
    assert ("xen1", "guest web: live-migrated to xen2 (xl migrate over 'ssh'); /usr/local/etc/xen/web.cfg "
            "removed here, its config and autostart entry follow on xen2") in planned, dry.output[-4000:]
    assert where(fleet) == {"xen1": before}  # a dry run moves nothing
    run = converge(fleet, {"xen2": [shared_guest()]})
    assert "guest web moves from xen1 to xen2 (live migration)" in run.output
    # the real run does what the dry run planned on the Dom0 the guest leaves
    assert [line for line in plan_lines(run.output) if line[0] == "xen1"] == [
        line for line in planned if line[0] == "xen1"
    ]
    [(host, after)] = where(fleet).items()
    assert host == "xen2"
    assert after["uuid"] == before["uuid"]
    assert int(after["start_time"]) == int(before["start_time"])
    assert "xl create" not in run.output
    assert live_macs(fleet.hosts["xen2"]) == macs
    xen1, xen2 = fleet.hosts["xen1"], fleet.hosts["xen2"]
    assert not xen1.exists("/usr/local/etc/xen/web.cfg")
    assert f"mac={macs[0]}" in xen2.read("/usr/local/etc/xen/web.cfg")
    assert "web" not in xen1.read("/etc/rc.conf").split('xendomains_list="')[1].split('"')[0].split()
    assert 'xendomains_list="web"' in xen2.read("/etc/rc.conf")


def test_2_migrate_py_moves_it_now_and_says_what_to_edit(fleet):
    inventory = place(fleet, {"xen2": [shared_guest()]})
    run = pyinfra(inventory, "deploys/migrate.py", "--data", "migrate_guest=web", "--data", "migrate_to=xen3")
    assert run.returncode == 0, run.output[-4000:]
    assert list(where(fleet)) == ["xen3"]
    assert "now move guest web's entry in xen_guests from xen2 to xen3" in run.output
    converge(fleet, {"xen3": [shared_guest()]})
    assert list(where(fleet)) == ["xen3"]


@pytest.mark.parametrize(
    "guest, source, target, extra, message",
    [
        (shared_guest("db", disks=[{"zvol": "zroot/xen/db0", "size": "1G"}]), "xen3", "xen1", {},
         "guest db cannot move to xen1: its disk /dev/zvol/zroot/xen/db0 does not exist there. "
         "Live migration needs the guest's storage"),
        # xen3's Dom0 keeps 14G of 16G, web runs there too: no room for a 2000M guest.
        (shared_guest("db", memory=2000), "xen1", "xen3", {}, "guest db cannot move to xen3: it needs 2000M and only"),
        (shared_guest("db"), "xen3", "xen1", {"xen1": {"xen_migrate_ssh": "ssh -p 1"}},
         "guest db cannot move to xen1: this Dom0 cannot reach xen1 with 'ssh -p 1'"),
    ],
)
def test_3_refusals_change_nothing(fleet, guest, source, target, extra, message):
    converge(fleet, {source: [guest]})
    assert list(where(fleet, "db")) == [source]
    volumes = fleet.hosts[target].run("zfs list -H -o name").stdout
    run = pyinfra(place(fleet, {target: [guest]}, extra), "deploys/guests.py")
    assert run.returncode != 0
    assert message in run.output, run.output[-4000:]
    assert list(where(fleet, "db")) == [source]
    assert not fleet.hosts[target].exists("/usr/local/etc/xen/db.cfg")
    assert fleet.hosts[target].run("zfs list -H -o name").stdout == volumes
    assert "db" not in fleet.hosts[target].read("/etc/rc.conf").split('xendomains_list="')[-1].split('"')[0].split()
    fleet.hosts[source].run("xl destroy db")


def test_4_missing_bridge_is_refused(fleet):
    xen3 = fleet.hosts["xen3"]
    assert xen3.run("ifconfig bridge1 create").returncode == 0
    guest = shared_guest("db", vifs=[{"bridge": "bridge1", "mac": "00:16:3e:00:10:02"}])
    converge(fleet, {"xen3": [guest]})
    run = pyinfra(place(fleet, {"xen1": [guest]}), "deploys/guests.py")
    assert "guest db cannot move to xen1: its bridge bridge1 does not exist there" in run.output
    assert list(where(fleet, "db")) == ["xen3"]
    xen3.run("xl destroy db")


def test_5_a_guest_declared_on_two_dom0s_is_refused_before_connecting(fleet):
    run = pyinfra(place(fleet, {"xen1": [shared_guest()], "xen2": [shared_guest()]}), "deploys/guests.py")
    assert run.returncode != 0
    assert "guest web is declared on both xen1 and xen2" in run.output
    # Both are refused before connecting; xen3, which the rule does not concern, goes on.
    assert "[xen1] Connected" not in run.output and "[xen2] Connected" not in run.output


def test_6_an_interrupted_migration_leaves_one_guest_and_a_rerun_converges(fleet):
    converge(fleet, {"xen3": [shared_guest()]})
    # While the memory moves, the target builds "web--incoming" (xl's naming): xen2's sshd is cut then.
    cut = cut_mid_migration(fleet, place(fleet, {"xen2": [shared_guest()]}), "deploys/guests.py")
    output = cut.output
    assert cut.returncode != 0, output[-3000:]  # the cut really broke the migration
    running = [host for host, domain in where(fleet).items()]
    assert running == ["xen3"], (running, output[-3000:])  # xl resumed it at the sender
    assert not any("--" in name for host in fleet.hosts.values() for name in host.sim_state()["domains"])
    converge(fleet, {"xen2": [shared_guest()]})
    assert list(where(fleet)) == ["xen2"]


def test_7_evacuating_a_dom0_moves_every_guest_in_one_run(fleet):
    # Four guests leave xen1 at once and xen2 declares them in the opposite
    # order: every migration must still come before xen2 writes their configs.
    names = ["ev1", "ev2", "ev3", "ev4"]
    guests = [shared_guest(name, memory=128, vifs=[{"bridge": "bridge0", "mac": f"00:16:3e:00:20:0{i}"}])
              for i, name in enumerate(names, 1)]
    converge(fleet, {"xen1": guests})
    run = converge(fleet, {"xen2": list(reversed(guests))})
    for name in names:
        assert f"guest {name} moves from xen1 to xen2 (live migration)" in run.output
        assert list(where(fleet, name)) == ["xen2"]
        assert fleet.hosts["xen2"].exists(f"/usr/local/etc/xen/{name}.cfg")
    listed = fleet.hosts["xen2"].read("/etc/rc.conf").split('xendomains_list="')[1].split('"')[0].split()
    assert sorted(listed) == names
    for name in names:
        fleet.hosts["xen2"].run(f"xl destroy {name}")


def test_8_a_stopped_guest_on_local_disks_is_not_recreated_blank_elsewhere(fleet):
    guest = shared_guest("cold", disks=[{"zvol": "zroot/xen/cold0", "size": "1G"}],
                         vifs=[{"bridge": "bridge0", "mac": "00:16:3e:00:30:01"}])
    converge(fleet, {"xen3": [{**guest, "state": "stopped"}]})
    xen1, xen3 = fleet.hosts["xen1"], fleet.hosts["xen3"]
    assert xen3.exists("/usr/local/etc/xen/cold.cfg") and not where(fleet, "cold")
    run = pyinfra(place(fleet, {"xen1": [guest]}), "deploys/guests.py")
    assert run.returncode != 0
    assert ("guest cold is stopped on xen3, where its config is, and its disk /dev/zvol/zroot/xen/cold0 is there "
            "and not here") in run.output, run.output[-4000:]
    assert "remove /usr/local/etc/xen/cold.cfg on xen3" in run.output
    # Nothing created on xen1, and xen3 keeps the config that tells where the guest is.
    assert "zroot/xen/cold0" not in xen1.run("zfs list -H -o name").stdout.split()
    assert not xen1.exists("/usr/local/etc/xen/cold.cfg")
    assert xen3.exists("/usr/local/etc/xen/cold.cfg")
    assert "zroot/xen/cold0" in xen3.run("zfs list -H -o name").stdout.split()
    assert not where(fleet, "cold")
    converge(fleet, {"xen3": [{**guest, "state": "absent"}]})


def test_9_a_stopped_guest_on_shared_storage_starts_where_it_is_declared(fleet):
    guest = shared_guest("nap", vifs=[{"bridge": "bridge0", "mac": "00:16:3e:00:30:02"}])
    converge(fleet, {"xen1": [{**guest, "state": "stopped"}]})
    assert fleet.hosts["xen1"].exists("/usr/local/etc/xen/nap.cfg")
    converge(fleet, {"xen2": [guest]})
    assert list(where(fleet, "nap")) == ["xen2"]
    assert not fleet.hosts["xen1"].exists("/usr/local/etc/xen/nap.cfg")
    fleet.hosts["xen2"].run("xl destroy nap")


def test_10_an_admins_own_domain_is_not_ours_to_move_or_remove(fleet):
    from spec.guest import GuestSpec
    from spec.xlcfg import render_xl_cfg

    guest = shared_guest("handmade", vifs=[{"bridge": "bridge0", "mac": "00:16:3e:00:40:01"}])
    xen1, xen2 = fleet.hosts["xen1"], fleet.hosts["xen2"]
    # The admin's own config on xen1: the same guest, without the marker our configs start with.
    own = "\n".join(render_xl_cfg(GuestSpec(**guest)).splitlines()[1:]) + "\n"
    assert xen1.run("truncate -s 1G /shared/handmade.img").returncode == 0
    xen1.write("/usr/local/etc/xen/handmade.cfg", own)
    assert xen1.run("xl create /usr/local/etc/xen/handmade.cfg").returncode == 0
    run = pyinfra(place(fleet, {"xen2": [guest]}), "deploys/guests.py")
    assert run.returncode != 0
    assert ("guest handmade runs here and xen2 declares a guest of that name, but /usr/local/etc/xen/handmade.cfg "
            "here was not written by this project: not migrated") in run.output, run.output[-4000:]
    assert "guest handmade: a domain of that name runs on xen1 and its config there was not written" in run.output
    assert list(where(fleet, "handmade")) == ["xen1"]
    assert xen1.read("/usr/local/etc/xen/handmade.cfg") == own
    assert not xen2.exists("/usr/local/etc/xen/handmade.cfg")
    # Stopped, its config is still the admin's: kept on xen1, and the guest starts where it is declared.
    xen1.run("xl destroy handmade")
    run = pyinfra(place(fleet, {"xen2": [guest]}), "deploys/guests.py")
    assert run.returncode == 0, run.output[-4000:]
    assert "/usr/local/etc/xen/handmade.cfg is for a guest that xen2 declares, but this project did not write it" in run.output
    assert xen1.read("/usr/local/etc/xen/handmade.cfg") == own
    assert list(where(fleet, "handmade")) == ["xen2"]
    xen2.run("xl destroy handmade")
    xen1.run("rm -f /usr/local/etc/xen/handmade.cfg")


def test_11_a_transport_with_arguments_reaches_xl_as_one_argument(fleet):
    guest = shared_guest("tp", vifs=[{"bridge": "bridge0", "mac": "00:16:3e:00:40:02"}])
    converge(fleet, {"xen1": [guest]})
    transport = {"xen2": {"xen_migrate_ssh": "ssh -o ConnectTimeout=5"}}
    run = converge(fleet, {"xen2": [guest]}, transport)
    assert "guest tp moves from xen1 to xen2 (live migration)" in run.output
    assert list(where(fleet, "tp")) == ["xen2"]
    fleet.hosts["xen2"].run("xl destroy tp")
