"""
Move a guest whose disks are ZFS volumes local to its Dom0 (A) to another Dom0
(B) by replication (issue 12): ``xl migrate`` moves memory, not disks.

Opt-in per guest (``"move_disks": True``). From A, over the target's SSH
transport (``xen_migrate_ssh``, ``xen_migrate_address``), as
``zfs send | ssh B zfs receive -s``:

1. a full stream of each volume while the guest runs, then incremental rounds
   until what changed since the last round is small (``SMALL_DELTA``);
2. a graceful stop (``operations.guests.shutdown_command``: timeout, then
   destroy), a final incremental of each volume, the guest's config file copied
   to B (it is the same file: uuid and MACs move with it) and, if it is declared
   running, ``xl create`` there; only then A's config file goes. A's volumes
   stay, with their last snapshot, and are reported as left behind;
3. a cut anywhere leaves the guest on exactly one Dom0: before B started it,
   A starts it again from its own (intact) volumes; B's partial receive keeps
   its ``receive_resume_token`` and the rerun resumes it (``zfs send -t``).

Everything B could refuse is checked before anything changes
(``move_problems``): the pool and room for each volume (``zfs list -Hp -o
avail``), no dataset of that name on B unless it is this move's own
interrupted receive or earlier round, A reaching B over SSH exactly as the
pipeline will, B's bridges, memory and Xen version.

    from operations import zfsmove
    problems = zfsmove.move_problems(host, guest, current, target)
    zfsmove.move_disks(guest=guest, target=target, running=True, shutdown_timeout=120)
"""

from __future__ import annotations

import json
import re
import shlex
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, StringCommand, operation

from facts.guests import GuestsHost, config_path
from facts.zfs import (
    ZFS_VOLUMES_COMMAND, ZfsSnapshot, ZfsVolume, parse_zfs_snapshots, parse_zfs_volumes, zfs_snapshots_argv,
)
from spec.guest import GuestSpec
from spec.xlcfg import config_mode
from spec.transport import check_address, migrate_transport

from .commands import shell_words
from .guests import create_command, shutdown_command
from .migrate import Dom0, PROBE_SECONDS, ssh_probe_command, target_xen_problems
from .state import changes_host, forget_state
from .steps import plan

# Snapshots this project takes: <volume>@<prefix>-<UTC timestamp>-<reason>.
MOVE_PREFIX = "xenmove"
# Stop the guest once a round carries less than this (seconds of downtime on a LAN).
SMALL_DELTA = 64 * 1024 * 1024
MAX_ROUNDS = 5
UUID = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


@dataclass(frozen=True)
class VolumeOnTarget:
    """What B has under a volume's name, as far as a move is concerned."""

    state: str  # "absent", "ours" (an earlier round or our interrupted receive), "foreign"
    resume_token: str = "-"


def zvols(guest: GuestSpec) -> list[str]:
    return [disk.zvol for disk in guest.disks if disk.zvol]


def snapshot_name(volume: str, stamp: str, reason: str, prefix: str = MOVE_PREFIX) -> str:
    """``zroot/xen/web-disk0@xenmove-20261130T095100-r1``"""

    return f"{volume}@{prefix}-{stamp}-{reason}"


def utc_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S")


def is_move_snapshot(snapshot: ZfsSnapshot, prefix: str = MOVE_PREFIX) -> bool:
    return snapshot.short.startswith(f"{prefix}-")


def common_base(source: list[ZfsSnapshot], target: list[ZfsSnapshot]) -> ZfsSnapshot | None:
    """The newest snapshot of A's volume that B has too (same guid): what the next incremental starts from."""

    there = {snapshot.guid for snapshot in target}
    for snapshot in reversed(source):
        if snapshot.guid in there:
            return snapshot
    return None


def classify_target(
    volume: ZfsVolume | None,
    target_snapshots: list[ZfsSnapshot],
    source_snapshots: list[ZfsSnapshot],
    token_toname: str | None,
) -> VolumeOnTarget:
    """
    Whether B's dataset under the volume's name is absent, ours to continue
    (its snapshot is one of A's move snapshots, or its interrupted receive was
    of one), or someone else's (never touched: the move is refused).
    """

    if volume is None:
        return VolumeOnTarget("absent")
    if not volume.complete:
        ours = token_toname is not None and any(
            s.name == token_toname and is_move_snapshot(s) for s in source_snapshots
        )
        return VolumeOnTarget("ours" if ours else "foreign", volume.resume_token)
    base = common_base([s for s in source_snapshots if is_move_snapshot(s)], target_snapshots)
    return VolumeOnTarget("ours" if base is not None else "foreign")


def token_toname(send_dry_run: str) -> str | None:
    """The ``toname`` of ``zfs send -nv -t TOKEN``'s "resume token contents" (None when absent)."""

    for line in send_dry_run.splitlines():
        key, _, value = line.strip().partition(" = ")
        if key == "toname":
            return value.strip()
    return None


def parse_send_size(estimate: str) -> int:
    """The total of ``zfs send -nvP``'s estimate (its ``size`` line)."""

    for line in estimate.splitlines():
        fields = line.split("\t")
        if fields[0] == "size" and len(fields) == 2 and fields[1].strip().isdigit():
            return int(fields[1])
    raise ValueError(f"zfs send -nvP printed no size: {estimate.strip()[:200]!r}")


def parse_avail(text: str) -> int:
    value = text.strip()
    if not value.isdigit():
        raise ValueError(f"zfs list -Hp -o avail printed {value[:100]!r}")
    return int(value)


def remote(transport_words: list[str], address: str, *words: object) -> str:
    """
    A command run on B through the target's transport: every local word quoted
    for A's sh, and the remote command quoted once more for B's, as ssh joins
    its arguments into one string for the remote shell.
    """

    return f"{shell_words(*transport_words, check_address(address))} {shlex.quote(shell_words(*words))}"


def transport_words(ssh_command: str) -> list[str]:
    return migrate_transport(ssh_command).split(" ")


def receive_words(volume: str, full: bool, volmode: str = "dev", refreservation: int = 0) -> list[str]:
    """
    ``zfs receive -s``: resumable. A full stream carries no properties (no
    ``-p``), so volmode (and a thick volume's refreservation) is given here; an
    incremental one uses ``-F`` to roll B's copy back to the common snapshot
    (nothing runs on it: it is ours).
    """

    if full:
        thick = ["-o", f"refreservation={refreservation}"] if refreservation else []
        return ["zfs", "receive", "-s", "-o", f"volmode={volmode}", *thick, volume]
    return ["zfs", "receive", "-s", "-F", volume]


def pipeline(send: list[str], transport: list[str], address: str, receive: list[str]) -> str:
    """
    ``zfs send ... | ssh B zfs receive ...``. Its status is the receiver's
    (sh has no pipefail on every release), which is enough: ``zfs receive``
    succeeds only when the stream arrived whole, so a failed send fails it too.
    """

    return f"{shell_words(*send)} | {remote(transport, address, *receive)}"


def another_round(delta: int, previous: int | None, rounds: int) -> bool:
    """
    Whether to send one more incremental while the guest runs: not once the
    last one was small, nor when it no longer shrinks (the guest writes as
    fast as the rounds carry it: more rounds would not shorten the stop).
    """

    if delta <= SMALL_DELTA or rounds >= MAX_ROUNDS:
        return False
    return previous is None or delta < previous * 0.8


def human_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


# Pre-flight --------------------------------------------------------------------------


def _run(on_host, command: str) -> tuple[bool, str, str]:
    ok, output = on_host.run_shell_command(StringCommand(command))
    return ok, output.stdout, output.stderr


def read_snapshots(on_host, volume: str) -> list[ZfsSnapshot]:
    ok, out, err = _run(on_host, shell_words(*zfs_snapshots_argv(volume)))
    if not ok:
        raise ValueError(f"cannot list the snapshots of {volume}: {(err or out).strip()[:200]}")
    return parse_zfs_snapshots(out)


def read_token_toname(on_host, token: str) -> str | None:
    ok, out, err = _run(on_host, shell_words("zfs", "send", "-n", "-v", "-t", token))
    return token_toname(out + "\n" + err) if ok else None


def move_problems(source_host, guest: GuestSpec, source: GuestsHost, target: Dom0) -> list[str]:
    """
    Every check before a replicated move of ``guest`` from this Dom0 to
    ``target``; nothing changes when one fails. Reads B through pyinfra's own
    connection to it, and probes A -> B over the transport last.
    """

    where = f"guest {guest.name} cannot move to {target.name} with its disks"
    if target.address is None:
        return [f"{where}: {target.address_problem}"]
    there = target.state(arriving=guest)
    problems = target_xen_problems(where, source, there)
    if not there.xl_works:
        return problems
    for index, vif in enumerate(guest.vifs):
        if vif.bridge not in there.interfaces:
            problems.append(f"{where}: vifs[{index}]'s bridge {vif.bridge} does not exist there")
    if guest.state == "running" and guest.memory > there.free_memory_mib:
        problems.append(f"{where}: it needs {guest.memory}M and only {there.free_memory_mib}M is free there")
    for disk in guest.disks:
        if not disk.zvol:
            if disk.file or disk.device:
                problems.append(
                    f"{where}: its disk {disk.file or disk.device} is not a ZFS volume; move_disks replicates zvols only",
                )
            continue
        problems += volume_problems(source_host, target, disk.zvol, source, there, where)
    if not problems:
        ok, out, err = _run(source_host, ssh_probe_command(target.ssh_command, target.address))
        if not ok:
            detail = (err or out).strip().splitlines()
            reason = detail[-1] if detail else f"no answer within {PROBE_SECONDS}s"
            problems.append(
                f"{where}: this Dom0 cannot reach {target.address} with '{target.ssh_command}' ({reason}); "
                "zfs send | ssh ... zfs receive needs root's SSH key accepted there, non-interactively",
            )
    return problems


def volume_problems(source_host, target: Dom0, volume: str, source: GuestsHost, there: GuestsHost,
                    where: str) -> list[str]:
    mine = source.volumes.get(volume)
    if mine is None or not mine.complete:
        return [f"{where}: its volume {volume} does not exist here (complete) to be sent"]
    try:
        source_snapshots = read_snapshots(source_host, volume)
        theirs = there.volumes.get(volume)
        target_snapshots = read_snapshots(target.host, volume) if theirs is not None and theirs.complete else []
        toname = read_token_toname(source_host, theirs.resume_token) if theirs and not theirs.complete else None
    except ValueError as error:
        return [f"{where}: {error}"]
    claim = classify_target(theirs, target_snapshots, source_snapshots, toname)
    if claim.state == "foreign":
        return [
            f"{where}: a dataset {volume} already exists there and is not this move's (no snapshot or interrupted "
            f"receive of {volume}@{MOVE_PREFIX}-...); nothing is overwritten: rename or destroy it there, or "
            "move the guest elsewhere",
        ]
    if claim.state == "ours":
        return []
    pool, _, _ = volume.partition("/")
    ok, out, err = _run(target.host, shell_words("zfs", "list", "-H", "-p", "-o", "avail", pool))
    if not ok:
        return [f"{where}: the pool {pool} does not exist there ({(err or out).strip()[:200]})"]
    try:
        avail = parse_avail(out)
    except ValueError as error:
        return [f"{where}: {error}"]
    ok, out, err = _run(source_host, shell_words("zfs", "list", "-H", "-p", "-o", "referenced,refreservation", volume))
    try:
        needed = max(parse_avail(word) if word != "none" else 0 for word in out.split("\t")) if ok else None
    except ValueError:
        needed = None
    if needed is None:
        return [f"{where}: cannot read how much data {volume} holds here ({(err or out).strip()[:200]})"]
    if needed > avail:
        return [
            f"{where}: {volume} holds {human_bytes(needed)} and the pool {pool} there has only "
            f"{human_bytes(avail)} free (zfs list -Hp -o avail {pool})",
        ]
    return []


# The move ------------------------------------------------------------------------------


class MoveFailed(Exception):
    pass


class Mover:
    """The move of one guest's volumes, executed from A (``move_disks``)."""

    def __init__(self, source_host, guest: GuestSpec, target: Dom0, shutdown_timeout: int):
        self.source = source_host
        self.guest = guest
        self.target = target
        self.transport = transport_words(target.ssh_command)
        self.shutdown_timeout = shutdown_timeout
        self.sent = 0
        self.stamp = utc_stamp()

    def log(self, message: str) -> None:
        self.source.log_styled(f"guest {self.guest.name}: {message}", fg="blue", log_func=logger.info)

    def run(self, command: str) -> str:
        ok, out, err = _run(self.source, command)
        if not ok:
            raise MoveFailed(f"{command[:300]}: {(err or out).strip()[-500:]}")
        return out

    def on_target(self, *words: object) -> tuple[bool, str, str]:
        return _run(self.source, remote(self.transport, self.target.address, *words))

    def target_volume(self, volume: str) -> ZfsVolume | None:
        ok, out, err = self.on_target(*ZFS_VOLUMES_COMMAND.split(), volume)
        if not ok:
            if "dataset does not exist" in err:
                return None
            raise MoveFailed(f"cannot read {volume} on {self.target.name}: {(err or out).strip()[:300]}")
        try:
            theirs = parse_zfs_volumes(out, with_token=True).get(volume)
        except ValueError as error:
            raise MoveFailed(f"cannot read {volume} on {self.target.name}: {error}") from None
        if theirs is None:
            raise MoveFailed(f"cannot read {volume} on {self.target.name}: {out.strip()[:300]!r}")
        return theirs

    def target_snapshots(self, volume: str) -> list[ZfsSnapshot]:
        ok, out, err = self.on_target(*zfs_snapshots_argv(volume))
        if not ok:
            raise MoveFailed(f"cannot list the snapshots of {volume} on {self.target.name}: {err.strip()[:300]}")
        return parse_zfs_snapshots(out)

    def replicate(self, volume: str, reason: str) -> int:
        """Bring B's copy of ``volume`` up to a new snapshot of it; the bytes this sent."""

        theirs = self.target_volume(volume)
        sent = 0
        if theirs is not None and not theirs.complete:
            self.log(f"resuming the interrupted receive of {volume} on {self.target.name}")
            estimate = self.run(shell_words("zfs", "send", "-n", "-v", "-P", "-t", theirs.resume_token))
            self.run(pipeline(["zfs", "send", "-t", theirs.resume_token], self.transport, self.target.address,
                              ["zfs", "receive", "-s", volume]))
            sent += _size_or_zero(estimate)
            theirs = self.target_volume(volume)
        snapshot = snapshot_name(volume, self.stamp, reason)
        self.run(shell_words("zfs", "snapshot", snapshot))
        source_snapshots = read_snapshots(self.source, volume)
        base = common_base(source_snapshots, self.target_snapshots(volume)) if theirs is not None else None
        if theirs is not None and base is None:
            raise MoveFailed(f"{volume} exists on {self.target.name} with no snapshot in common with this one")
        send = ["zfs", "send", "-P", snapshot] if base is None else ["zfs", "send", "-P", "-i", base.name, snapshot]
        estimate = self.run(shell_words("zfs", "send", "-n", *send[2:]))
        reservation = 0
        if base is None:
            parent = volume.rsplit("/", 1)[0]
            if not self.on_target("zfs", "list", "-H", "-o", "name", parent)[0]:
                ok, out, err = self.on_target("zfs", "create", "-p", parent)
                if not ok:
                    raise MoveFailed(f"cannot create {parent} on {self.target.name}: {(err or out).strip()[:300]}")
            value = self.run(shell_words("zfs", "list", "-H", "-p", "-o", "refreservation", volume)).strip()
            reservation = int(value) if value.isdigit() else 0
        self.run(pipeline(send[:2] + send[3:], self.transport, self.target.address,
                          receive_words(volume, full=base is None, refreservation=reservation)))
        sent += parse_send_size(estimate)
        self.sent += sent
        return sent

    def guest_running_here(self) -> bool:
        ok, out, err = _run(self.source, shell_words("xl", "list", self.guest.name))
        if ok:
            return True
        if "is an invalid domain identifier (rc=-6)" in err:
            return False
        raise MoveFailed(f"cannot tell whether {self.guest.name} runs here: {err.strip()[:300]}")

    def live_uuid(self) -> str | None:
        """The running guest's uuid (``xl list -l``): it is given to ``xl create`` on B, as the config has none."""

        out = self.run(shell_words("xl", "list", "-l", self.guest.name))
        try:
            value = json.loads(out)[0]["config"]["c_info"]["uuid"]
        except (ValueError, LookupError, TypeError) as error:
            raise MoveFailed(f"cannot read the uuid of {self.guest.name} from xl list -l: {error}") from None
        if not UUID.fullmatch(str(value)):
            raise MoveFailed(f"xl list -l gives {self.guest.name} the uuid {str(value)[:60]!r}")
        return value

    def start_here_again(self) -> None:
        ok, _, err = _run(self.source, create_command(self.guest))
        self.log("started again here from its own volumes" if ok else f"could not be started again here: {err.strip()}")

    def move(self, running: bool) -> None:
        volumes = zvols(self.guest)
        begun = time.monotonic()
        rounds = 0
        if running:
            previous = None
            while True:
                rounds += 1
                delta = sum(self.replicate(v, f"r{rounds}") for v in volumes)
                self.log(f"round {rounds}: {human_bytes(delta)} sent while it runs")
                if not another_round(delta, previous, rounds):
                    break
                previous = delta
        uuid = self.live_uuid() if running else None
        stopped_at = time.monotonic()
        if running:
            self.log(f"stopping it for the final incremental (shutdown within {self.shutdown_timeout}s)")
            self.run(shutdown_command(self.guest, self.shutdown_timeout))
        try:
            final = sum(self.replicate(v, "final") for v in volumes)
            cfg = config_path(self.guest.name)
            staging = f"{cfg}.xenmove"
            mode = format(config_mode(self.guest), "o")   # as guests.config writes it (0600 with a VNC password)
            # the config travels on stdin (it may hold a VNC password); a missing file fails before ssh runs
            self.run(
                remote(self.transport, self.target.address, "sh", "-c",
                       f"umask 077 && cat > {shlex.quote(staging)} && chmod {mode} {shlex.quote(staging)} && "
                       f"mv -f {shlex.quote(staging)} {shlex.quote(cfg)}")
                + f" < {shlex.quote(cfg)}",
            )
            if self.guest.state == "running":
                ok, out, err = self.on_target("xl", "create", cfg, *([f'uuid="{uuid}"'] if uuid else []))
                if not ok:
                    raise MoveFailed(f"xl create on {self.target.name} failed: {(err or out).strip()[-300:]}")
        except MoveFailed:
            if running and not self.guest_running_here():
                self.start_here_again()
            raise
        self.run(shell_words("rm", "-f", config_path(self.guest.name)))
        downtime = time.monotonic() - stopped_at
        total = time.monotonic() - begun
        self.log(
            f"moved to {self.target.name}: {human_bytes(self.sent)} sent in {total:.1f}s "
            f"({rounds} round(s) while running, final incremental {human_bytes(final)}); "
            + (f"downtime {downtime:.1f}s" if running else "it was stopped"),
        )
        self.log(
            f"its volumes here are kept with their last snapshot ({', '.join(volumes)}): once the guest runs well "
            f"on {self.target.name}, list them in this Dom0's xen_destroy_left_volumes and the next run destroys them",
        )


def _size_or_zero(estimate: str) -> int:
    try:
        return parse_send_size(estimate)
    except ValueError:
        return 0


@operation(is_idempotent=False)
@changes_host
def move_disks(guest: GuestSpec, target: Dom0, running: bool, shutdown_timeout: int = 120):
    """
    Move ``guest`` and its ZFS volumes from this Dom0 to ``target``
    (replication, then a short stop; see the module's docstring). Fails, with
    the guest running here again, if anything goes wrong before it started on
    ``target``; a rerun resumes what was received.

    .. code:: python

        zfsmove.move_disks(guest=spec, target=fleet.dom0s["xen2"], running=True)
    """

    how = "replicated while it runs, then a short stop" if running else "replicated (it is stopped)"
    plan(f"guest {guest.name}: moved to {target.name} with its disks ({how}); its volumes here are kept")

    def execute(state, host) -> bool:
        mover = Mover(host, guest, target, shutdown_timeout)
        try:
            mover.move(running)
        except (MoveFailed, ValueError) as error:
            host.log_styled(f"guest {guest.name}: the move to {target.name} failed: {error}", fg="red",
                            log_func=logger.error)
            return False
        finally:
            forget_state(host)
            forget_state(target.host)
        return True

    yield FunctionCommand(execute, (), {})


def log_move(guest_name: str, source: str, target: str, running: bool) -> None:
    how = "replication while it runs, then a short stop" if running else "replication (it is stopped)"
    host.log_styled(f"guest {guest_name} moves from {source} to {target} with its disks ({how})",
                    fg="blue", log_func=logger.info)
