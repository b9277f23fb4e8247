"""
operations/leftovers.py: a volume a move left on its old Dom0 is destroyed only
when the host data lists it, it is ours (a move sent it, every snapshot is
ours), nothing here uses it, and another Dom0's copy holds its last snapshot.
"""

from __future__ import annotations

import pytest

from facts.guests import GuestsHost
from facts.zfs import ZfsSnapshot, ZfsVolume
from operations.leftovers import DESTROY, GONE, LATER, REFUSED, Holder, destroy_commands, left_volume_verdict

VOL = "zroot/xen/web-disk0"
R1 = ZfsSnapshot(f"{VOL}@xenmove-20261130T100000-r1", "111", 10)
FINAL = ZfsSnapshot(f"{VOL}@xenmove-20261130T100000-final", "222", 12)
SAFE = ZfsSnapshot(f"{VOL}@xensafe-20261129T090000-restart", "333", 8)


def dom0(volumes=(VOL,), token="-", live_configs=None) -> GuestsHost:
    return GuestsHost(
        domains=[], live_configs=live_configs or {}, xen_info={}, interfaces=(), rc_conf={},
        volumes={v: ZfsVolume(v, 20 * 2**30, "dev", token) for v in volumes},
    )


def holder(snapshots=(R1, FINAL), volumes=(VOL,), token="-") -> Holder:
    return Holder("xen2", "web", dom0(volumes, token), list(snapshots))


def verdict(here=None, snapshots=(SAFE, R1, FINAL), holders=None, moving=False):
    return left_volume_verdict(VOL, here or dom0(), list(snapshots),
                               [holder()] if holders is None else holders, moving)


def test_a_moved_volume_whose_copy_holds_the_last_snapshot_is_destroyed_with_its_snapshots():
    result = verdict()
    assert result.action == DESTROY, result.reason
    assert "guest web on xen2 holds its last snapshot xenmove-20261130T100000-final" in result.reason
    assert [str(c) for c in destroy_commands(result)] == [
        f"zfs destroy {SAFE.name}", f"zfs destroy {R1.name}", f"zfs destroy {FINAL.name}", f"zfs destroy {VOL}",
    ]


@pytest.mark.parametrize("case, kwargs, reason", [
    ("the copy lacks the final snapshot", {"holders": [holder(snapshots=(R1,))]},
     "xen2 (guest web) does not hold its last snapshot xenmove-20261130T100000-final"),
    ("the copy is an interrupted receive", {"holders": [holder(token="1-abc")]}, "does not hold its last snapshot"),
    ("the copy is not there", {"holders": [holder(volumes=())]}, "does not hold its last snapshot"),
    ("nobody declares it elsewhere", {"holders": []}, "no other Dom0 of the inventory declares"),
    ("no move sent it", {"snapshots": (SAFE,)}, "it has no @xenmove- snapshot"),
    ("an admin's snapshot", {"snapshots": (R1, ZfsSnapshot(f"{VOL}@before-upgrade", "9", 11), FINAL)},
     "snapshots this project did not take (before-upgrade)"),
    ("a domain here uses it", {"here": dom0(live_configs={"other": {"disks": [{"vdev": "xvda", "pdev_path": f"/dev/zvol/{VOL}"}]}})},
     "the domain other running here uses it"),
    ("it is an interrupted receive here", {"here": dom0(token="1-abc")}, "zfs receive -A"),
])
def test_refusals_say_why(case, kwargs, reason):
    result = verdict(**kwargs)
    assert result.action == REFUSED, case
    assert result.reason.startswith(f"xen_destroy_left_volumes: {VOL} is not destroyed: ")
    assert reason in result.reason, (case, result.reason)


def test_a_volume_already_gone_is_nothing_to_do_and_one_moving_now_waits_for_the_next_run():
    assert verdict(here=dom0(volumes=())).action == GONE
    later = verdict(moving=True)
    assert later.action == LATER and "the next run destroys it" in later.reason


def test_the_right_copy_is_found_among_several_holders():
    stale = Holder("xen3", "web", dom0(), [R1])
    assert verdict(holders=[stale, holder()]).action == DESTROY
    assert verdict(holders=[stale]).action == REFUSED


def test_the_host_data_key_is_checked_before_connecting():
    from spec.fleet import validate_guests
    from spec.schema import InventoryError

    guest = {"name": "web", "memory": 512, "disks": [{"zvol": VOL, "size": "20G"}]}
    spec = validate_guests("xen1", {"xen_destroy_left_volumes": ["zroot/xen/old-disk0"], "xen_guests": [guest]})
    assert spec.xen_destroy_left_volumes == ["zroot/xen/old-disk0"]
    with pytest.raises(InventoryError) as error:
        validate_guests("xen1", {"xen_destroy_left_volumes": [VOL], "xen_guests": [guest]})
    assert str(error.value).count("xen1: xen_destroy_left_volumes lists zroot/xen/web-disk0, the disk of guest web "
                                  "declared here (xen_guests[0].disks[0].zvol): remove it from the list") == 1
    for bad, fragment in ((["/dev/zvol/zroot/a"], "without /dev/zvol"), ([VOL, VOL], "listed twice")):
        with pytest.raises(InventoryError, match=fragment):
            validate_guests("xen1", {"xen_destroy_left_volumes": bad})
