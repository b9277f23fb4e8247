"""
The ZFS volumes a replicated move left on the Dom0 it moved from (A), and
their destruction when the admin asks for it.

A move with ``move_disks`` keeps A's volumes with their last snapshot: the
guest's data on B is new, and nothing of A's is destroyed on the move's own
word. The admin says when with A's host data:

.. code:: python

    "xen_destroy_left_volumes": ["zroot/xen/web-disk0"]

A listed volume is destroyed (its snapshots first, then the volume) only when
all of this holds, and a listed volume that is already gone is nothing to do:

* it is this project's: it carries a ``xenmove-`` snapshot (a move sent it);
  every snapshot on it is ours (``xenmove-``, ``xensafe-``): an admin's
  snapshot keeps it;
* nothing here uses it: no guest declared here (checked with the inventory),
  no running domain here has it as a disk;
* it lives on elsewhere: another Dom0 of the inventory declares a guest on a
  volume of that name, and that volume is complete and holds A's last move
  snapshot (the same snapshot guid: the bytes arrived);
* no move of it leaves A in this run (then the next run destroys it).

Anything else is a problem that stops the host before anything changes, with
its reason. The decision is ``left_volume_verdict``, a pure function.

    from operations import leftovers
    verdicts = leftovers.left_volumes(host, spec.xen_destroy_left_volumes, current, fleet, moving=())
    leftovers.destroy_left_volumes(verdicts=verdicts)
"""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra import host
from pyinfra.api import operation

from facts.guests import GuestsHost
from facts.zfs import ZfsSnapshot

from .commands import argv
from .drift import live_disks
from .state import changes_host
from .steps import noop, plan

OUR_SNAPSHOT_PREFIXES = ("xenmove-", "xensafe-")
MOVE_SNAPSHOT_PREFIX = "xenmove-"

DESTROY, GONE, LATER, REFUSED = "destroy", "gone", "later", "refused"


@dataclass(frozen=True)
class LeftVolume:
    volume: str
    action: str  # DESTROY, GONE (nothing to do), LATER (a move of it runs now), REFUSED
    reason: str
    # the snapshots to destroy before the volume (all ours), oldest first
    snapshots: tuple[str, ...] = ()


@dataclass(frozen=True)
class Holder:
    """Another Dom0 that declares a guest on a volume of the same name, and its copy."""

    name: str
    guest: str
    state: GuestsHost
    snapshots: list[ZfsSnapshot]


def users_here(volume: str, here: GuestsHost) -> list[str]:
    """The running domains here that have the volume as a disk."""

    device = f"/dev/zvol/{volume}"
    return sorted(name for name, config in here.live_configs.items()
                  if any(path == device for _, path, _ in live_disks(config)))


def left_volume_verdict(
    volume: str,
    here: GuestsHost,
    here_snapshots: list[ZfsSnapshot],
    holders: list[Holder],
    moving_now: bool,
) -> LeftVolume:
    """Whether a volume listed in ``xen_destroy_left_volumes`` on this Dom0 (read: ``here``) is destroyed, and why (not)."""

    def refused(why: str) -> LeftVolume:
        return LeftVolume(volume, REFUSED, f"xen_destroy_left_volumes: {volume} is not destroyed: {why}")

    mine = here.volumes.get(volume)
    if mine is None:
        return LeftVolume(volume, GONE, f"volume {volume} left by a move is already gone")
    if moving_now:
        return LeftVolume(volume, LATER, f"volume {volume} is moved away in this run: the next run destroys it "
                                          "here, once the move has finished")
    if not mine.complete:
        return refused("it is an interrupted receive into this Dom0, not a volume a move left here "
                       f"(give it up with zfs receive -A {volume}, or let the move finish)")
    users = users_here(volume, here)
    if users:
        return refused(f"the domain {', '.join(users)} running here uses it")
    foreign = [s.short for s in here_snapshots if not s.short.startswith(OUR_SNAPSHOT_PREFIXES)]
    if foreign:
        return refused(f"it has snapshots this project did not take ({', '.join(foreign[:3])}): "
                       "destroy those by hand first if the volume is really to go")
    moves = [s for s in here_snapshots if s.short.startswith(MOVE_SNAPSHOT_PREFIX)]
    if not moves:
        return refused("no move of this project sent it (it has no @xenmove- snapshot): it is not ours to destroy")
    last = moves[-1]
    if not holders:
        return refused("no other Dom0 of the inventory declares a guest on a volume of that name, so nothing "
                       "shows that its data lives on: declare the guest where it moved, or destroy it by hand")
    for holder in holders:
        theirs = holder.state.volumes.get(volume)
        if theirs is None or not theirs.complete:
            continue
        if any(s.guid == last.guid for s in holder.snapshots):
            return LeftVolume(
                volume, DESTROY,
                f"volume {volume} left by a move destroyed (zfs destroy), with its snapshots: guest "
                f"{holder.guest} on {holder.name} holds its last snapshot {last.short}",
                tuple(s.name for s in here_snapshots),
            )
    where = ", ".join(f"{h.name} (guest {h.guest})" for h in holders)
    return refused(f"{where} does not hold its last snapshot {last.short} yet (the move has not finished): "
                   "run the move first")


def left_volumes(on_host, volumes: list[str], here: GuestsHost, fleet, moving: frozenset[str]) -> list[LeftVolume]:
    """
    The verdict on each listed volume, from this Dom0's read, its snapshots and
    the copies on the Dom0s that declare a guest on a volume of that name.
    A snapshot list that cannot be read is a refusal, never a guess.
    """

    from .zfsmove import read_snapshots

    verdicts = []
    for volume in volumes:
        if volume not in here.volumes or volume in moving:
            verdicts.append(left_volume_verdict(volume, here, [], [], volume in moving))
            continue
        try:
            here_snapshots = read_snapshots(on_host, volume)
            holders = []
            for dom0 in fleet.dom0s.values():
                if dom0.name == on_host.name:
                    continue
                for guest in dom0.guests:
                    if guest.state != "absent" and any(d.zvol == volume for d in guest.disks):
                        state = dom0.state()
                        theirs = state.volumes.get(volume)
                        snapshots = read_snapshots(dom0.host, volume) if theirs is not None and theirs.complete else []
                        holders.append(Holder(dom0.name, guest.name, state, snapshots))
        except ValueError as error:
            verdicts.append(LeftVolume(volume, REFUSED, f"xen_destroy_left_volumes: {volume}: {error}"))
            continue
        verdicts.append(left_volume_verdict(volume, here, here_snapshots, holders, False))
    return verdicts


def destroy_commands(verdict: LeftVolume) -> list:
    """Each snapshot, then the volume: a plain ``zfs destroy`` that refuses if a snapshot appeared since."""

    return [argv("zfs", "destroy", snapshot) for snapshot in verdict.snapshots] + [argv("zfs", "destroy", verdict.volume)]


@operation(is_idempotent=False)
@changes_host
def destroy_left_volumes(verdicts: list[LeftVolume]):
    """
    Destroy the volumes a move left here that ``xen_destroy_left_volumes``
    lists and ``left_volumes`` cleared (see the module's rules).

    + verdicts: ``left_volumes``'s verdicts (refusals have stopped the host before)

    .. code:: python

        leftovers.destroy_left_volumes(verdicts=leftovers.left_volumes(host, volumes, current, fleet, frozenset()))
    """

    acted = False
    for verdict in verdicts:
        if verdict.action == DESTROY:
            acted = True
            plan(verdict.reason)
            yield from destroy_commands(verdict)
        elif verdict.action in (GONE, LATER):
            noop(verdict.reason)
    if not acted and not verdicts:
        noop(f"{host.name}: no volume left by a move to destroy")
