"""
Safety snapshots of a guest's ZFS volumes (issue 12), taken before a change
that stops the guest's OS: a restart to apply a change, the switch to
``installed`` (booting from disk), and ``state: absent``. Each is
``<volume>@xensafe-<UTC timestamp>-<reason>``; the newest ``xen_snapshot_keep``
of them per volume are kept, older ones of ours destroyed (an admin's own
snapshots are never touched). A guest with ``"safety_snapshots": False``
gets none.

To roll back: stop the guest, ``zfs rollback -r <volume>@<snapshot>``, start it.

    from operations import snapshots
    reason = snapshots.reason_for(guest, current, restart_on_change)   # pure
    snapshots.safety_snapshots(guest=guest, read=read, restart_on_change=False, keep=3)
"""

from __future__ import annotations

import shlex

from pyinfra.api import StringCommand, operation

from facts.guests import GuestsHost
from spec.guest import GuestSpec

from .commands import shell_words
from .drift import guest_drift
from .state import changes_host
from .steps import noop, plan
from .zfsmove import utc_stamp, zvols

SAFETY_PREFIX = "xensafe"


def reason_for(guest: GuestSpec, current: GuestsHost, restart_on_change: bool) -> str | None:
    """
    Why the guests deploy is about to stop this guest's OS now ("absent",
    "installed", "restart"), from the same pure decision its power step makes;
    None when it is not.
    """

    if not guest.safety_snapshots or not zvols(guest):
        return None
    domain = current.domain(guest.name)
    if guest.state == "absent":
        if guest.destroy_disks:
            return None   # asked to destroy the volumes: a snapshot would keep their data (see snapshots_to_drop)
        present = domain is not None or guest.name in current.config_names
        return "absent" if present and any(v in current.volumes for v in zvols(guest)) else None
    if guest.state != "running" or domain is None:
        return None
    drift = guest_drift(guest, domain, current.live_configs.get(guest.name))
    if drift.needs_restart and (restart_on_change or guest.restart_on_change or drift.install_finished):
        return "installed" if drift.install_finished else "restart"
    return None


def snapshot_names(volumes: list[str], stamp: str, reason: str) -> list[str]:
    return [f"{volume}@{SAFETY_PREFIX}-{stamp}-{reason}" for volume in volumes]


def prune_command(volume: str, keep: int) -> str:
    """
    Destroy this project's safety snapshots of ``volume`` but the newest
    ``keep`` (their names sort by time). Only names with our prefix are read
    back, and each is quoted again where it is used.
    """

    prefix = shlex.quote(f"{volume}@{SAFETY_PREFIX}-")
    return (
        f"{shell_words('zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name', volume)} | "
        f"awk -v p={prefix} 'index($0, p) == 1' | sort | "
        f"awk -v k={int(keep)} '{{ s[NR] = $0 }} END {{ for (i = 1; i <= NR - k; i++) print s[i] }}' | "
        "while IFS= read -r s; do zfs destroy \"$s\" || exit 1; done"
    )


def drops_snapshots(guest: GuestSpec, current: GuestsHost) -> list[str]:
    """
    The volumes whose safety snapshots go now: ``state: absent`` with
    ``destroy_disks`` destroys the volumes (``zfs destroy`` refuses a volume
    with snapshots); only ours are destroyed, an admin's snapshot still stops it.
    """

    if guest.state != "absent" or not guest.destroy_disks:
        return []
    return [volume for volume in zvols(guest) if volume in current.volumes]


@operation(is_idempotent=False)
@changes_host
def safety_snapshots(guest: GuestSpec, read, restart_on_change: bool = False, keep: int = 3):
    """
    Snapshot the guest's zvols before this run stops its OS (restart, the
    ``installed`` switch, ``state: absent``), keeping the newest ``keep``.

    .. code:: python

        snapshots.safety_snapshots(guest=spec, read=read, restart_on_change=False, keep=3)
    """

    from .guests import guests_state

    current = guests_state(read)
    dropped = drops_snapshots(guest, current)
    if dropped:
        plan(f"guest {guest.name}: the safety snapshots of {', '.join(dropped)} destroyed with the volumes")
        for volume in dropped:
            yield StringCommand(prune_command(volume, 0))
        return
    reason = reason_for(guest, current, restart_on_change)
    if reason is None:
        noop(f"guest {guest.name}: no safety snapshot needed")
        return
    volumes = [v for v in zvols(guest) if v in current.volumes]
    plan(f"guest {guest.name}: safety snapshot of {', '.join(volumes)} before the {reason} "
         f"(keeping the newest {keep})")
    yield StringCommand(shell_words("zfs", "snapshot", *snapshot_names(volumes, utc_stamp(), reason)))
    for volume in volumes:
        yield StringCommand(prune_command(volume, keep))

