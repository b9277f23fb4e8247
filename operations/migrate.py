"""
Live migration between Dom0s of the same inventory.

Placement is declarative: a guest belongs to the Dom0 whose ``xen_guests``
lists it. When a running guest's declaration moves from Dom0 A to Dom0 B, A
(where it runs) migrates it to B with ``xl migrate``; B meanwhile neither
creates it nor its disks (that would start it twice, or put a blank disk under
a live guest). Before migrating, both sides are checked: compatible Xen, the
guest's disks at the same paths on B (shared storage), its bridges on B, B's
free memory, and A's SSH access to B.

    from operations import migrate
    placement = migrate.Fleet.from_inventory(inventory)
    migrate.live_migrate(guest=spec, target=placement.host("xen2"), ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from pyinfra import host, logger
from pyinfra.api import operation

from facts.guests import GuestsHost, config_path
from spec.guest import GuestSpec
from spec.inventory import FleetCheck, check_fleet
from spec.transport import migrate_transport, transport_probe_argv

from .commands import argv, shell_words
from .state import changes_host, forget_afterwards, unproxied
from .steps import noop, plan, plans_first

# xl renames a domain while it moves: the source keeps "<name>--migratedaway",
# the target builds "<name>--incoming" until the transfer completes.
MIGRATION_SUFFIXES = ("--migratedaway", "--incoming")


def base_name(domain_name: str) -> str:
    for suffix in MIGRATION_SUFFIXES:
        if domain_name.endswith(suffix):
            return domain_name[: -len(suffix)]
    return domain_name


@dataclass(frozen=True)
class Dom0:
    """Another Dom0 of the inventory, as the guests deploy needs to know it."""

    name: str
    host: Any  # pyinfra Host
    guests: tuple[GuestSpec, ...]
    address: str | None  # how other Dom0s reach it; None: see address_problem
    ssh_command: str
    address_problem: str | None = None
    # xen_destroy_left_volumes: read with its guests' volumes, so both deploys share one read
    left_volumes: tuple[str, ...] = ()

    def read(self, arriving: GuestSpec | None = None):
        from .guests import GuestsRead

        guests = list(self.guests)
        if arriving is not None and all(g.name != arriving.name for g in guests):
            guests.append(arriving)
        return GuestsRead.for_guests(guests, self.left_volumes)

    def state(self, arriving: GuestSpec | None = None) -> GuestsHost:
        """
        Its composite read: the same cache entry its own deploy uses, unless a
        guest it does not declare yet is about to arrive (its disks must be
        looked up too). If the read fails, that Dom0 and the one asking both
        stop (``operations.state.read_state``): nothing is decided on a guess.
        """

        from .guests import guests_state

        return guests_state(self.read(arriving), on=self.host)


# The fleet of each inventory in this process (pyinfra runs one; tests may run several).
_fleets: "WeakKeyDictionary[Any, Fleet]" = WeakKeyDictionary()


@dataclass(frozen=True)
class Fleet:
    dom0s: dict[str, Dom0]

    @classmethod
    def from_inventory(cls, inventory, check: FleetCheck | None = None) -> "Fleet":
        """
        Every Dom0 of the inventory, from the inventory's check (``check``, or
        one made here), once per run: each host's deploy asks for the whole
        fleet, which would otherwise cost hosts x hosts validations.
        """

        inventory = unproxied(inventory)
        fleet = _fleets.get(inventory)
        if fleet is None:
            check = check or check_fleet((other.name, other.data.dict()) for other in inventory)
            fleet = _fleets[inventory] = cls._from_check(inventory, check)
        return fleet

    @classmethod
    def _from_check(cls, inventory, check: FleetCheck) -> "Fleet":
        dom0s = {}
        for other in inventory:
            spec = check.specs.get(other.name)
            if spec is None:
                # That host fails on its own, with its messages. Here it still
                # counts as a Dom0 whose domains are read (a guest may run
                # there), but it declares nothing, so nothing moves to it and
                # no config of a guest it may declare is removed.
                dom0s[other.name] = Dom0(other.name, other, (), None, "ssh")
                continue
            try:
                address = spec.guests.migration_address(other.name)
            except ValueError as error:
                address, address_problem = None, str(error)
            else:
                address_problem = None
            dom0s[other.name] = Dom0(
                other.name, other, tuple(spec.guests.xen_guests), address, spec.guests.xen_migrate_ssh, address_problem,
                tuple(spec.guests.xen_destroy_left_volumes),
            )
        return cls(dom0s)

    def owner(self, guest_name: str) -> Dom0 | None:
        """The Dom0 that declares the guest (other than absent)."""

        for dom0 in self.dom0s.values():
            for guest in dom0.guests:
                if guest.name == guest_name and guest.state != "absent":
                    return dom0
        return None

    def declared(self, dom0_name: str, guest_name: str) -> GuestSpec | None:
        for guest in self.dom0s[dom0_name].guests:
            if guest.name == guest_name:
                return guest
        return None

    def defined_elsewhere(self, guest_name: str, here: str) -> Dom0 | None:
        """Another Dom0 that still has the guest's config file: where it was before its declaration moved."""

        for dom0 in self.dom0s.values():
            if dom0.name != here and guest_name in dom0.state().config_names:
                return dom0
        return None

    def running_elsewhere(self, guest_name: str, here: str) -> Dom0 | None:
        """Another Dom0 on which the guest runs now (read only when asked)."""

        for dom0 in self.dom0s.values():
            if dom0.name == here:
                continue
            state = dom0.state()
            if state.xl_works and any(base_name(d.name) == guest_name for d in state.domains or ()):
                return dom0
        return None


def stranded_disks(guest: GuestSpec, owner: GuestsHost, origin: Dom0) -> list[str]:
    """
    The guest's disks that exist on the Dom0 it was on and not on the one that
    now declares it (``origin`` is read, with the guest's disk paths, only when
    a disk is missing at ``owner``).
    """

    missing = missing_disks(guest, owner)
    if not missing:
        return []
    there = origin.state(arriving=guest)
    return [path for path in missing if disk_present(path, there)]


def stranded_problem(guest: GuestSpec, current: GuestsHost, origin: Dom0) -> str | None:
    """
    Why a guest whose declaration moved here while it was stopped on ``origin``
    cannot start here: its disks stayed there. Creating it here would give it
    blank disks while its data sits on the other Dom0.
    """

    stranded = stranded_disks(guest, current, origin)
    if not stranded:
        return None
    return (
        f"guest {guest.name} is stopped on {origin.name}, where its config is, and its disk {', '.join(stranded)} "
        f"is there and not here: its declaration can move while it is stopped only with shared storage (the "
        f"same disk path on both Dom0s). Copy its disks here first (for a zvol: zfs send on {origin.name} piped "
        f"to zfs receive here), or to create it afresh on new disks, remove {config_path(guest.name)} on "
        f"{origin.name}"
    )


def disk_present(path: str, state: GuestsHost) -> bool:
    if path.startswith("/dev/zvol/"):
        # a volume whose receive was cut (receive_resume_token) holds part of a guest's data: not a disk yet
        volume = state.volumes.get(path[len("/dev/zvol/"):])
        return (volume is not None and getattr(volume, "complete", True)) or state.paths.get(path) is not None
    return state.paths.get(path) is not None or state.media_sha256.get(path) is not None


def missing_disks(guest: GuestSpec, state: GuestsHost) -> list[str]:
    return [disk.target for disk in guest.disks if not disk_present(disk.target, state)]


def xen_version(state: GuestsHost) -> tuple[int, int]:
    info = state.xen_info or {}
    return int(info.get("xen_major", 0) or 0), int(info.get("xen_minor", 0) or 0)


def target_xen_problems(where: str, source: GuestsHost, target: GuestsHost) -> list[str]:
    """A Dom0 a guest moves to must run Xen, the same version as here or a newer one."""

    if not target.xl_works:
        return [f"{where}: Xen is not running there ({target.xl_error or 'xl does not answer'})"]
    if xen_version(target) < xen_version(source):
        return [
            f"{where}: it runs Xen {'.'.join(map(str, xen_version(target)))}, older than here "
            f"({'.'.join(map(str, xen_version(source)))}); Xen migrates only to the same or a newer version",
        ]
    return []


def migration_problems(guest: GuestSpec, source: GuestsHost, target: GuestsHost, target_name: str) -> list[str]:
    """Why ``guest`` cannot live-migrate from ``source`` to ``target`` (empty: it can)."""

    where = f"guest {guest.name} cannot move to {target_name}"
    problems = target_xen_problems(where, source, target)
    if not target.xl_works:
        return problems
    live = (source.live_configs.get(guest.name) or {}).get("config", {})
    for disk in live.get("disks", []):
        path = disk.get("pdev_path", "")
        if path and not disk_present(path, target):
            problems.append(
                f"{where}: its disk {path} does not exist there. Live migration needs the guest's storage "
                "at the same path on both Dom0s (NFS, iSCSI or a shared zvol); a disk local to this Dom0 "
                "cannot follow the guest",
            )
    for nic in live.get("nics", []):
        bridge = nic.get("bridge", "xenbr0")
        if bridge not in target.interfaces:
            problems.append(f"{where}: its bridge {bridge} does not exist there")
    memory = next((d.mem_mib for d in source.domains or () if d.name == guest.name), guest.memory)
    if memory > target.free_memory_mib:
        problems.append(f"{where}: it needs {memory}M and only {target.free_memory_mib}M is free there")
    return problems


def ssh_probe_command(ssh_command: str, address: str) -> str:
    """
    The transport exactly as ``xl migrate`` will run it (xl_migrate.c: sh -c
    "exec <transport> <host> xl migrate-receive"), running ``true`` instead of
    the receiver, with no input and bounded in time: what reaches the target
    here is what xl will reach it with.
    """

    return f"timeout {PROBE_SECONDS} {shell_words(*transport_probe_argv(ssh_command, address))} </dev/null"


PROBE_SECONDS = 30


def reachability_problem(source_host, target: Dom0, guest_name: str) -> str | None:
    ok, output = source_host.run_shell_command(ssh_probe_command(target.ssh_command, target.address))
    if ok:
        return None
    detail = (output.stderr or output.stdout).strip().splitlines()
    reason = detail[-1] if detail else f"no answer within {PROBE_SECONDS}s"
    return (
        f"guest {guest_name} cannot move to {target.name}: this Dom0 cannot reach {target.address} with "
        f"'{target.ssh_command}' ({reason}); xl migrate needs root's SSH key accepted there, non-interactively"
    )


def move_problems(source_host, guest: GuestSpec, source: GuestsHost, target: Dom0) -> list[str]:
    """Every check before a live migration; the SSH probe runs only when the rest pass."""

    if target.address is None:
        return [f"guest {guest.name} cannot move to {target.name}: {target.address_problem}"]
    problems = migration_problems(guest, source, target.state(arriving=guest), target.name)
    if not problems:
        unreachable = reachability_problem(source_host, target, guest.name)
        if unreachable:
            problems.append(unreachable)
    return problems


def migrate_command(guest_name: str, ssh_command: str, address: str):
    """``xl migrate -s TRANSPORT NAME ADDRESS``: the transport is one argument, as xl hands it to sh."""

    return argv("xl", "migrate", "-s", migrate_transport(ssh_command), guest_name, address)


@operation(is_idempotent=False)
@changes_host
def live_migrate(guest_name: str, target: Dom0):
    """
    ``xl migrate`` the running guest to ``target`` (SSH transport; ``-s`` from
    ``xen_migrate_ssh``), then remove its config file here. If the migration
    fails, xl resumes the guest here and the operation fails: a rerun tries again.

    .. code:: python

        migrate.live_migrate(guest_name="web", target=fleet.dom0s["xen2"])
    """

    plan(
        f"guest {guest_name}: live-migrated to {target.name} (xl migrate over '{target.ssh_command}'); "
        f"{config_path(guest_name)} removed here, its config and autostart entry follow on {target.name}",
    )
    yield migrate_command(guest_name, target.ssh_command, target.address)
    # The target has a new guest now: its next read must not come from the cache.
    yield forget_afterwards(target.host)
    yield argv("rm", "-f", config_path(guest_name))


@operation()
def migrations_finished():
    """
    The point every Dom0 taking part in this run's migrations passes together.
    pyinfra orders each host's operations by call order, and operations called
    from the same line (and the same loop pass) on several hosts are one step of
    that order. Without this, a target's config and autostart operations for an
    arriving guest could come before the source's ``xl migrate`` when the source
    sends several guests (evacuating a Dom0), and find the guest not arrived yet.
    Called from one line after the migrations, on every sender and receiver, it
    puts all of them before anything that expects their guests.

    .. code:: python

        for guest_name, target in moves:
            migrate.live_migrate(guest_name=guest_name, target=target)
        if moves or arriving:
            migrate.migrations_finished()
    """

    noop("every migration of this run has finished")
    return
    yield


@operation()
@plans_first
@changes_host
def forget_moved_configs(names: list[str]):
    """
    Remove the config files of guests that now belong to another Dom0 and no
    longer run here (left behind by an interrupted migration, say).

    .. code:: python

        migrate.forget_moved_configs(names=["web"])
    """

    if not names:
        noop("no configs of guests that moved away")
        return
    for name in names:
        plan(f"guest {name}: {config_path(name)} removed (another Dom0 declares it, and it runs here no more)")
        yield argv("rm", "-f", config_path(name))


def log_move(guest_name: str, source: str, target: str) -> None:
    host.log_styled(f"guest {guest_name} moves from {source} to {target} (live migration)", fg="blue", log_func=logger.info)
