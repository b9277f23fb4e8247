"""
Moving a guest with its ZFS volumes (operations.zfsmove, issue 12): the pure
decisions (which snapshot an incremental starts from, whether B's dataset is
this move's, what the stream's size is), the commands as words, and the plan's
choice between live migration and a move with the disks.

Sample outputs follow zfs-list(8), zfs-send(8) (-nvP's "full"/"incremental"/
"size" lines, -nv -t's "resume token contents") and zfsprops(7)
(receive_resume_token) of OpenZFS 2.2, as FreeBSD 14 ships it.
"""

from __future__ import annotations

import dataclasses
import shlex

import pytest

from facts.zfs import ZfsSnapshot, ZfsVolume, parse_zfs_snapshots, parse_zfs_volumes
from operations import zfsmove
from operations.migrate import disk_present
from operations.plan import plan_guests
from tests.unit.test_guest_ops import dom0, handbook_guest, running
from tests.unit.test_migrate import SHARED, fleet
from tests.unit.test_plan import ours

VOL = SHARED  # zroot/xen/freebsd-disk0
TOKEN = "1-10ed0ac0fc-b6-6f626a6563743d310a"


def snap(short, guid, txg):
    return ZfsSnapshot(f"{VOL}@{short}", str(guid), txg)


def test_snapshots_parse_oldest_first_and_refuse_what_they_cannot_read():
    text = f"{VOL}@xenmove-20261130T100000-r2\t222\t90\n{VOL}@xenmove-20261130T095900-r1\t111\t80\n"
    assert [s.short for s in parse_zfs_snapshots(text)] == ["xenmove-20261130T095900-r1", "xenmove-20261130T100000-r2"]
    for bad in (f"{VOL}\t1\t2\n", f"{VOL}@a\t-\t2\n", f"{VOL}@a\t1\n"):
        with pytest.raises(ValueError):
            parse_zfs_snapshots(bad)


def test_the_volume_read_carries_the_resume_token():
    volumes = parse_zfs_volumes(f"{VOL}\t21474836480\tdev\t{TOKEN}\nzroot/xen/b\t1073741824\tdev\t-\n")
    assert not volumes[VOL].complete and volumes["zroot/xen/b"].complete
    # three columns (older reads) still parse, as complete volumes
    assert parse_zfs_volumes(f"{VOL}\t21474836480\tdev\n")[VOL].complete


def test_a_volume_whose_receive_was_cut_is_no_disk():
    state = dom0(volumes={VOL: ZfsVolume(VOL, 20 * 2**30, "dev", TOKEN)})
    assert not disk_present(f"/dev/zvol/{VOL}", state)
    state = dom0(volumes={VOL: ZfsVolume(VOL, 20 * 2**30, "dev")})
    assert disk_present(f"/dev/zvol/{VOL}", state)


def test_common_base_is_the_newest_snapshot_both_have():
    source = [snap("a", 1, 1), snap("b", 2, 2), snap("c", 3, 3)]
    assert zfsmove.common_base(source, [snap("a", 1, 5), snap("b", 2, 6)]).short == "b"
    assert zfsmove.common_base(source, [snap("x", 9, 5)]) is None
    assert zfsmove.common_base(source, []) is None


def test_what_b_holds_under_the_volumes_name():
    mine = [snap("xenmove-20261130T095900-r1", 11, 1), snap("admins", 12, 2)]
    volume = ZfsVolume(VOL, 20 * 2**30, "dev")
    assert zfsmove.classify_target(None, [], mine, None).state == "absent"
    # an earlier round of this move: B has one of A's move snapshots
    assert zfsmove.classify_target(volume, [snap("xenmove-20261130T095900-r1", 11, 7)], mine, None).state == "ours"
    # the same guid under an admin's snapshot only is not ours: never rolled back
    assert zfsmove.classify_target(volume, [snap("admins", 12, 7)], mine, None).state == "foreign"
    assert zfsmove.classify_target(volume, [], mine, None).state == "foreign"
    # an interrupted receive is ours only when it was of one of A's move snapshots
    partial = ZfsVolume(VOL, 20 * 2**30, "dev", TOKEN)
    claim = zfsmove.classify_target(partial, [], mine, f"{VOL}@xenmove-20261130T095900-r1")
    assert claim.state == "ours" and claim.resume_token == TOKEN
    assert zfsmove.classify_target(partial, [], mine, f"{VOL}@admins").state == "foreign"
    assert zfsmove.classify_target(partial, [], mine, None).state == "foreign"


def test_send_outputs():
    assert zfsmove.parse_send_size(f"incremental\tr1\t{VOL}@r2\t3148288\nsize\t3148288\n") == 3148288
    with pytest.raises(ValueError):
        zfsmove.parse_send_size("full\tx\t12\n")
    contents = "resume token contents:\nnvlist version: 0\n\tobject = 0x2\n\ttoname = zroot/xen/a@xenmove-1-r1\n"
    assert zfsmove.token_toname(contents) == "zroot/xen/a@xenmove-1-r1"
    assert zfsmove.token_toname("nvlist version: 0\n") is None
    assert zfsmove.parse_avail("1234\n") == 1234
    with pytest.raises(ValueError):
        zfsmove.parse_avail("-")


def test_snapshot_names():
    assert zfsmove.snapshot_name(VOL, "20261130T095100", "r1") == f"{VOL}@xenmove-20261130T095100-r1"
    assert zfsmove.is_move_snapshot(snap("xenmove-20261130T095100-final", 1, 1))
    assert not zfsmove.is_move_snapshot(snap("daily", 1, 1))


def test_the_pipeline_quotes_each_word_for_both_shells():
    odd = "zroot/xen/it's; rm -rf /"   # validation refuses it; the quoting must hold anyway
    command = zfsmove.pipeline(["zfs", "send", f"{odd}@s"], zfsmove.transport_words("ssh -p 2222"), "xen2",
                               zfsmove.receive_words(odd, full=True, refreservation=5))
    send, _, receive = command.partition(" | ")
    assert shlex.split(send) == ["zfs", "send", f"{odd}@s"]
    local = shlex.split(receive)
    assert local[:8] == ["ssh", "-p", "2222", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "xen2"]
    assert len(local) == 9   # the remote command reaches ssh as one word ...
    assert shlex.split(local[8]) == ["zfs", "receive", "-s", "-o", "volmode=dev", "-o", "refreservation=5", odd]
    assert zfsmove.receive_words(VOL, full=False) == ["zfs", "receive", "-s", "-F", VOL]


GUEST = handbook_guest(installed=True, move_disks=True)


def test_a_move_disks_guest_leaves_with_its_disks_not_by_live_migration():
    on_xen1 = ours(running(GUEST, cdrom=False), "freebsd")
    # xen2 has a volume of that name (left by an earlier move): still no live migration onto it
    xen2 = dom0(volumes={VOL: ZfsVolume(VOL, 20 * 2**30, "dev")})
    placement = fleet({"xen1": [], "xen2": [GUEST]}, {"xen1": on_xen1, "xen2": xen2})
    leaving = plan_guests(placement, "xen1", [], on_xen1)
    assert leaving.moves == []
    assert [(name, target.name, live) for name, target, live in leaving.disk_moves] == [("freebsd", "xen2", True)]
    assert plan_guests(placement, "xen2", [GUEST], xen2).arriving == {"freebsd": "xen1"}
    # without move_disks, the same is a live migration (shared storage)
    plain = GUEST.model_copy(update={"move_disks": False})
    placement = fleet({"xen1": [], "xen2": [plain]}, {"xen1": on_xen1, "xen2": xen2})
    assert [name for name, _ in plan_guests(placement, "xen1", [], on_xen1).moves] == ["freebsd"]


def test_a_stopped_move_disks_guest_moves_cold_instead_of_being_refused():
    here = ours(dom0(volumes={VOL: ZfsVolume(VOL, 20 * 2**30, "dev")}), "freebsd")
    placement = fleet({"xen1": [], "xen2": [GUEST]}, {"xen1": here, "xen2": dom0()})
    leaving = plan_guests(placement, "xen1", [], here)
    assert [(name, live) for name, _, live in leaving.disk_moves] == [("freebsd", False)]
    assert leaving.moved_away == []
    arriving = plan_guests(placement, "xen2", [GUEST], dom0())
    assert arriving.problems == [] and arriving.arriving == {"freebsd": "xen1"}
    # once its config is on xen2 (it arrived), xen1's config is only a stale one
    there = ours(dom0(volumes={VOL: ZfsVolume(VOL, 20 * 2**30, "dev")}), "freebsd")
    placement = fleet({"xen1": [], "xen2": [GUEST]}, {"xen1": here, "xen2": there})
    assert plan_guests(placement, "xen1", [], here).moved_away == ["freebsd"]
    # without move_disks the old refusal stands
    plain = GUEST.model_copy(update={"move_disks": False})
    placement = fleet({"xen1": [], "xen2": [plain]}, {"xen1": here, "xen2": dom0()})
    [problem] = plan_guests(placement, "xen2", [plain], dom0()).problems
    assert "its disk /dev/zvol/zroot/xen/freebsd-disk0 is there and not here" in problem


def test_rounds_stop_when_small_or_no_longer_shrinking():
    mib = 2**20
    assert zfsmove.another_round(2048 * mib, None, 1)            # after the full stream
    assert not zfsmove.another_round(10 * mib, 2048 * mib, 2)     # small: stop now
    assert zfsmove.another_round(200 * mib, 2048 * mib, 2)        # shrinking
    assert not zfsmove.another_round(200 * mib, 205 * mib, 3)     # the guest writes as fast as rounds carry
    assert not zfsmove.another_round(500 * mib, 2000 * mib, zfsmove.MAX_ROUNDS)


# Safety snapshots (operations.snapshots) -----------------------------------------------

def test_safety_snapshot_reasons_follow_the_power_decision():
    from operations import snapshots

    plain = handbook_guest(installed=True)
    current = running(plain, cdrom=False)
    assert snapshots.reason_for(plain, current, restart_on_change=False) is None       # converged
    bigger = handbook_guest(installed=True, memory=4096, maxmem=4096)                    # beyond maxmem: restart
    assert snapshots.reason_for(bigger, current, restart_on_change=False) is None        # ... left pending
    assert snapshots.reason_for(bigger, current, restart_on_change=True) == "restart"
    booted_from_cdrom = running(handbook_guest(), cdrom=True)
    assert snapshots.reason_for(plain, booted_from_cdrom, restart_on_change=False) == "installed"
    off = handbook_guest(installed=True, memory=4096, maxmem=4096, safety_snapshots=False)
    assert snapshots.reason_for(off, current, restart_on_change=True) is None
    gone = handbook_guest(state="absent")
    with_volume = dom0(volumes={VOL: ZfsVolume(VOL, 20 * 2**30, "dev")})
    assert snapshots.reason_for(gone, ours(with_volume, "freebsd"), False) == "absent"
    assert snapshots.reason_for(gone, with_volume, False) is None                        # nothing to remove
    assert snapshots.reason_for(handbook_guest(state="absent", destroy_disks=True),
                                ours(with_volume, "freebsd"), False) is None


def test_safety_snapshot_names_and_pruning_only_touch_ours():
    from operations import snapshots

    assert snapshots.snapshot_names([VOL], "20261130T100000", "restart") == [
        f"{VOL}@xensafe-20261130T100000-restart"]
    command = snapshots.prune_command("zroot/xen/it's", 3)
    assert "'zroot/xen/it'\"'\"'s'" in command and "-v k=3" in command
    assert "index($0, p) == 1" in command   # only names starting with <volume>@xensafe-


def test_destroy_disks_drops_our_safety_snapshots_first():
    from operations import snapshots

    with_volume = dom0(volumes={VOL: ZfsVolume(VOL, 20 * 2**30, "dev")})
    assert snapshots.drops_snapshots(handbook_guest(state="absent", destroy_disks=True), with_volume) == [VOL]
    assert snapshots.drops_snapshots(handbook_guest(state="absent"), with_volume) == []
    assert snapshots.drops_snapshots(handbook_guest(state="absent", destroy_disks=True), dom0()) == []
