"""
Operations that converge a Dom0's DomU guests on their declarations: disks,
install media, the xl config file, power state (with the install lifecycle and
live drift), removal, and autostart at boot.

Each reads the composite ``GuestsState`` (one remote command per host, whatever
the number of guests) and yields commands, or a noop saying why none are needed.

    from operations import guests
    read = guests.GuestsRead.for_guests(specs)
    guests.disks(guest=spec, read=read)
    guests.config(guest=spec, read=read)
    guests.power(guest=spec, read=read)
"""

from __future__ import annotations

import dataclasses
import hashlib
import posixpath
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.context import ctx_state
from pyinfra.facts.server import Command
from weakref import WeakKeyDictionary

from facts.guests import AUTOSTART_SCRIPT, GuestsHost, GuestsState, PathInfo, config_path
from facts.xl import XlDomain
from facts.zfs import ZfsVolume
from facts.rcfile import parse_rc_text
from facts.dom0 import RC_CONF, SYSCTL_CONF
from spec.guest import GuestSpec, size_bytes
from spec.versions import removed_xl_settings
from spec.xlcfg import MASK_SECRET_LINES_AWK, config_mode, mask_secret_lines, render_xl_cfg, type_line

from .commands import argv
from .drift import Drift, guest_drift
from facts.files import ABSENT
from .files import atomic_write_commands, backup_path, write_if_changed
from .rcfile import set_rc_values
from .state import changes_host, forget_afterwards, read_state, record, unproxied
from .steps import announce, diff, noop, plan, plans_first, wants_diff, warn


@dataclass(frozen=True)
class GuestsRead:
    """What the composite read covers on this host: its guests' names and paths."""

    names: tuple[str, ...]
    paths: tuple[str, ...]
    media: tuple[str, ...]
    zvols: tuple[str, ...] = ()

    @classmethod
    def for_guests(cls, guests: list[GuestSpec], left_volumes: Iterable[str] = ()) -> "GuestsRead":
        """The read for these guests, and for the volumes moves left here (``xen_destroy_left_volumes``)."""

        paths, media, zvols = [], [], []
        for guest in guests:
            for disk in guest.disks:
                if disk.file:
                    paths.append(disk.file)
                elif disk.device:
                    paths.append(disk.device)
                elif disk.zvol:
                    zvols.append(disk.zvol)
            if guest.cdrom is not None:
                media.append(guest.cdrom.path)
        zvols += left_volumes
        return cls(tuple(g.name for g in guests), tuple(dict.fromkeys(paths)), tuple(dict.fromkeys(media)),
                   tuple(dict.fromkeys(zvols)))


def guests_state(read: GuestsRead, on=None) -> GuestsHost:
    """The composite read of this host (or of Dom0 ``on``), cached until it changes."""

    return read_state(on or host, GuestsState, names=read.names, paths=read.paths, media=read.media,
                      zvols=read.zvols)


# After ``xl destroy`` a domain is gone within moments; longer means something is stuck.
DESTROY_WAIT_SECONDS = 30
# The same wait in the xendomains rc.d script (its DESTROY_WAIT), kept short: at
# Dom0 shutdown it counts against init's kern.init_shutdown_timeout.
XENDOMAINS_DESTROY_WAIT = 10


def wait_gone_loop(name: str, seconds: int) -> str:
    """
    A sh loop that polls ``xl list NAME`` once a second until the domain is
    gone, for at most ``seconds``. Its status is that of the last poll: 0 while
    the domain is still there. ``name`` must already be quoted.
    """

    return f"n=0; while xl list {name} >/dev/null 2>&1 && [ $n -lt {int(seconds)} ]; do sleep 1; n=$((n + 1)); done"


def shutdown_command(guest: GuestSpec, timeout: int) -> str:
    """
    Stop the guest and return only once its domain is gone, so that the
    ``xl create`` or ``zfs destroy`` that follows cannot race it. ``xl shutdown
    -w`` is not enough: per xl(1) it returns when the domain has shut down,
    which is before it is destroyed; until then ``xl create`` fails with
    "already exists" and ``zfs destroy`` with "dataset is busy". So: ask for a
    graceful shutdown (``-F``: HVM guests without PV drivers get an ACPI power
    event), poll until the domain is gone within ``timeout`` seconds, else
    ``xl destroy`` it and poll again (bounded too); fail, naming the guest, if it
    is still there, so the next command never runs against a live domain.
    """

    name = shlex.quote(guest.name)
    force = " -F" if guest.type == "hvm" else ""
    still_there = f"xl list {name} >/dev/null 2>&1"
    message = shlex.quote(
        f"guest {guest.name} is still there {DESTROY_WAIT_SECONDS}s after xl destroy; "
        "nothing further was done to it",
    )
    return (
        f"if xl shutdown{force} {name}; then {wait_gone_loop(name, timeout)}; fi; "
        f"if {still_there}; then "
        f"echo {shlex.quote(f'guest {guest.name} did not shut down within {int(timeout)}s: destroying it')} >&2; "
        f"xl destroy {name}; {wait_gone_loop(name, DESTROY_WAIT_SECONDS)}; "
        f"if {still_there}; then echo {message} >&2; exit 1; fi; fi"
    )


def shutdown_words(guest: GuestSpec, timeout: int) -> str:
    """How ``shutdown_command`` stops the guest, for the plan."""

    return f"xl shutdown{' -F' if guest.type == 'hvm' else ''}, xl destroy after {int(timeout)}s"


def rendered_digest(guest: GuestSpec, current: GuestsHost) -> str:
    return hashlib.sha256(render_xl_cfg(guest, xen=running_xen(current)).encode()).hexdigest()


def create_command(guest: GuestSpec) -> str:
    return f"xl create {shlex.quote(config_path(guest.name))}"


# Problems found before anything changes -----------------------------------------


def running_xen(current: GuestsHost) -> tuple[int, int] | None:
    """The (major, minor) of the Xen this Dom0 runs (``xl info``), or None when unknown."""

    info = current.xen_info or {}
    try:
        return (int(info["xen_major"]), int(info["xen_minor"]))
    except (KeyError, TypeError, ValueError):
        return None


def plan_problems(guests: list[GuestSpec], current: GuestsHost, arriving: frozenset[str] = frozenset()) -> list[str]:
    """
    What would make converging these guests fail half-way: checked up front so
    the host is stopped with a clear message instead.
    """

    problems = []
    wanted = [g for g in guests if g.state != "absent"]
    if wanted and not current.xl_works:
        detail = current.xl_error.splitlines()[-1] if current.xl_error else "xl does not answer"
        problems.append(f"this host is not a running Xen Dom0 ({detail}): run deploys/dom0.py first")
        return problems
    xen = running_xen(current)
    to_start_mib = 0
    for guest in wanted:
        try:
            type_line(guest, xen)
        except ValueError as refused:
            problems.append(str(refused))
        for removed in removed_xl_settings(guest.extra, xen) if xen else ():
            problems.append(f"guest {guest.name}: extra {removed} (this Dom0 runs Xen {xen[0]}.{xen[1]})")
        for index, vif in enumerate(guest.vifs):
            if vif.bridge not in current.interfaces:
                problems.append(
                    f"guest {guest.name}: vifs[{index}] uses bridge {vif.bridge}, which does not exist on this host "
                    f"(it has: {' '.join(current.interfaces)})",
                )
        for index, disk in enumerate(guest.disks):
            where = f"guest {guest.name}: disks[{index}]"
            if disk.zvol:
                volume = current.volumes.get(disk.zvol)
                if volume and size_bytes(disk.size) < volume.volsize:
                    problems.append(
                        f"{where}: {disk.zvol} is {volume.volsize} bytes, larger than the declared {disk.size}; "
                        "volumes are never shrunk: declare at least the current size",
                    )
            elif disk.file:
                info = current.paths.get(disk.file)
                if info and info.kind != "Regular File":
                    problems.append(f"{where}: {disk.file} exists and is not a regular file")
                elif info and size_bytes(disk.size) < info.size:
                    problems.append(
                        f"{where}: {disk.file} is {info.size} bytes, larger than the declared {disk.size}; "
                        "disk files are never shrunk: declare at least the current size",
                    )
            elif disk.device and current.paths.get(disk.device) is None:
                problems.append(f"{where}: device {disk.device} does not exist on this host")
        if guest.cdrom and not guest.installed and not guest.cdrom.url:
            if current.media_sha256.get(guest.cdrom.path) is None:
                problems.append(
                    f"guest {guest.name}: install medium {guest.cdrom.path} is missing and no url is given to fetch it",
                )
        if guest.state == "running" and current.domain(guest.name) is None and guest.name not in arriving:
            to_start_mib += guest.memory
            if current.xen_info is not None and to_start_mib > current.free_memory_mib:
                problems.append(
                    f"guest {guest.name}: needs {guest.memory}M but only "
                    f"{max(current.free_memory_mib - (to_start_mib - guest.memory), 0)}M of the Dom0's free memory "
                    "is left for it (xl info free_memory): lower its memory or stop another guest",
                )
    return problems


def unmanaged_guests(guests: list[GuestSpec], current: GuestsHost) -> list[str]:
    declared = {g.name for g in guests}
    return [d.name for d in current.domains or () if d.name != "Domain-0" and d.name not in declared]


# Disks and media ------------------------------------------------------------------


@operation()
@plans_first
def disks(guest: GuestSpec, read: GuestsRead, arriving_from: str | None = None):
    """
    Create the guest's disks: ZFS volumes with ``zfs create -V`` (grown with
    ``zfs set volsize`` when the declared size grows, never shrunk), files with
    ``truncate -s``; devices are used as they are. Nothing is destroyed here.
    A guest still running on another Dom0 (``arriving_from``) brings its disks
    along on shared storage: none is created for it here.

    .. code:: python

        guests.disks(guest=spec, read=read)
    """

    if arriving_from is not None:
        noop(f"guest {guest.name} runs on {arriving_from}: its disks come with it (shared storage)")
        return
    current = guests_state(read)
    acted = False
    for disk in guest.disks:
        if disk.zvol:
            volume = current.volumes.get(disk.zvol)
            if volume is None:
                sparse = ["-s"] if disk.sparse else []
                acted = True
                plan(f"guest {guest.name}: volume {disk.zvol} created, {disk.size}{' sparse' if disk.sparse else ''} (zfs create)")
                yield argv("zfs", "create", "-p", *sparse, "-V", disk.size, "-o", "volmode=dev", disk.zvol)
            elif size_bytes(disk.size) > volume.volsize:
                acted = True
                plan(f"guest {guest.name}: volume {disk.zvol} grown {volume.volsize} bytes -> {disk.size} (zfs set volsize)")
                yield argv("zfs", "set", f"volsize={disk.size}", disk.zvol)
            else:
                continue
            volume = ZfsVolume(disk.zvol, size_bytes(disk.size), volume.volmode if volume else "dev")
            yield record(lambda volume=volume: current.volumes.__setitem__(volume.name, volume))
        elif disk.file:
            info = current.paths.get(disk.file)
            if info is None or size_bytes(disk.size) > info.size:
                acted = True
                plan(f"guest {guest.name}: disk file {disk.file} {'created' if info is None else 'grown'}, {disk.size} (truncate)")
                yield argv("mkdir", "-p", posixpath.dirname(disk.file))
                yield argv("truncate", "-s", disk.size, disk.file)
                grown = PathInfo("Regular File", size_bytes(disk.size))
                yield record(lambda path=disk.file, grown=grown: current.paths.__setitem__(path, grown))
    if not acted:
        noop(f"guest {guest.name}: disks exist with their declared sizes")


def fetch_command(url: str, path: str, sha256: str | None) -> str:
    """
    fetch(1) to a partial file next to the target, check its SHA-256, then
    rename: a failed or mismatching download leaves nothing at ``path``.
    """

    partial = shlex.quote(f"{path}.part")
    target = shlex.quote(path)
    steps = [f"mkdir -p {shlex.quote(posixpath.dirname(path))}", f"fetch -q -o {partial} {shlex.quote(url)}"]
    if sha256:
        steps.append(
            f'{{ got=$(sha256 -q {partial}); [ "$got" = {sha256} ] || '
            f'{{ echo "SHA-256 mismatch for {shlex.quote(url)}: got $got, expected {sha256}" >&2; false; }}; }}',
        )
    steps.append(f"mv -f {partial} {target}")
    return "( " + " && ".join(steps) + f" ) || {{ rm -f {partial}; exit 1; }}"


@operation()
@plans_first
def install_media(guest: GuestSpec, read: GuestsRead):
    """
    Fetch the install ISO with fetch(1) when it is missing or its SHA-256
    differs, verifying it before it takes the final path.

    .. code:: python

        guests.install_media(guest=spec, read=read)
    """

    cdrom = guest.cdrom
    if cdrom is None or guest.installed:
        noop(f"guest {guest.name}: no install medium needed")
        return
    current = guests_state(read)
    present = current.media_sha256.get(cdrom.path)
    if present is not None and (not cdrom.sha256 or present == cdrom.sha256.lower()):
        noop(f"guest {guest.name}: {cdrom.path} is present" + (" and verified" if cdrom.sha256 else ""))
        return
    if not cdrom.url:
        noop(f"guest {guest.name}: {cdrom.path} is missing and has no url")
        return
    plan(f"guest {guest.name}: {cdrom.path} fetched from {cdrom.url}" + (" and verified (SHA-256)" if cdrom.sha256 else ""))
    yield StringCommand(fetch_command(cdrom.url, cdrom.path, cdrom.sha256.lower() if cdrom.sha256 else None))
    if cdrom.sha256:
        yield record(lambda: current.media_sha256.__setitem__(cdrom.path, cdrom.sha256.lower()))
    else:
        yield forget_afterwards()


# Config file ------------------------------------------------------------------------


def not_arrived(guest: GuestSpec, current: GuestsHost, arriving_from: str | None) -> bool:
    """
    At execution, a guest that was to arrive by migration but is not running
    here: its migration failed. Writing its config or autostart entry now would
    let a Dom0 reboot start a second copy on the same shared disk.
    """

    return arriving_from is not None and ctx_state.get().is_executing and current.domain(guest.name) is None


def masked_config(path: str) -> str:
    """
    The guest config on the host with its password lines masked there, before
    it leaves the host (``spec.xlcfg.mask_secret_lines`` in awk): for ``--diff``.
    """

    text = host.get_fact(Command, command=f"awk {shlex.quote(MASK_SECRET_LINES_AWK)} {shlex.quote(path)}")
    return mask_secret_lines((text or "") + "\n")


# The configs this run rewrote, per host: a guest whose config is rewritten awaits a
# restart for what cannot change live, and says so whether the plan is worked out
# before the write (--dry) or after it (-y).
_rewritten: "WeakKeyDictionary[object, set[str]]" = WeakKeyDictionary()


def rewritten_this_run() -> set[str]:
    return _rewritten.setdefault(unproxied(host), set())


@operation()
@plans_first
def config(guest: GuestSpec, read: GuestsRead, arriving_from: str | None = None):
    """
    /usr/local/etc/xen/<name>.cfg rendered from the declaration, written
    atomically (over SFTP: the VNC password is never on a command line) and
    only when its content or mode differs. For a guest arriving by migration
    it is written only once the guest runs here.

    .. code:: python

        guests.config(guest=spec, read=read)
    """

    current = guests_state(read)
    if not_arrived(guest, current, arriving_from):
        noop(f"guest {guest.name} did not arrive from {arriving_from}: its config is not written here")
        return
    path = config_path(guest.name)
    present = current.config_sha256.get(path)
    new = render_xl_cfg(guest, xen=running_xen(current))
    digest = hashlib.sha256(new.encode()).hexdigest()
    mode = format(config_mode(guest), "o")
    if present == digest:
        if current.modes.get(path) == mode:
            noop(f"guest {guest.name}: {path} is up to date")
            return
        plan(f"guest {guest.name}: {path} mode {current.modes.get(path)} -> {mode}")
        yield argv("chmod", mode, path)
    else:
        plan(f"guest {guest.name}: {path} {'rewritten' if present else 'created'}" + (f", mode {mode}" if mode != "644" else ""))
        if wants_diff():
            diff(path, masked_config(path) if present else None, mask_secret_lines(new))
        # No .bak: a previous config may hold a VNC password, and it is regenerated anyway.
        # Based on the checksum read (the content is never read: it may hold a password).
        yield from atomic_write_commands(path, new, basis=present or ABSENT, mode=mode, secret=True)

    def written():
        current.config_sha256[path] = digest
        current.modes[path] = mode
        rewritten_this_run().add(path)

    yield record(written)


# Power state and drift ---------------------------------------------------------------


@operation(is_idempotent=False)
@plans_first
def power(
    guest: GuestSpec,
    read: GuestsRead,
    restart_on_change: bool = False,
    shutdown_timeout: int = 120,
    arriving_from: str | None = None,
):
    """
    Bring the guest to its declared state. ``running``: ``xl create`` when it is
    not running; drift in memory (within maxmem) and vCPUs (within maxvcpus) is
    applied live with ``xl mem-set``/``xl vcpu-set``; other drift needs a restart,
    done only with ``restart_on_change`` (switching to ``installed`` always
    restarts a running guest, so it boots from disk without the cdrom).
    ``stopped``: graceful ``xl shutdown -w`` within ``shutdown_timeout`` seconds,
    then ``xl destroy``. A guest still running on another Dom0
    (``arriving_from``) is never created here: it arrives by live migration.

    .. code:: python

        guests.power(guest=spec, read=read, restart_on_change=False)
    """

    current = guests_state(read)
    domain = current.domain(guest.name)
    if guest.state == "stopped":
        if domain is None:
            noop(f"guest {guest.name} is stopped")
            return
        plan(f"guest {guest.name}: shut down ({shutdown_words(guest, shutdown_timeout)})")
        yield StringCommand(shutdown_command(guest, shutdown_timeout))
        yield record(lambda: current.domains.remove(domain))
        return
    if domain is None:
        if arriving_from is not None:
            noop(f"guest {guest.name} runs on {arriving_from}: it arrives by live migration, not by xl create")
            return
        plan(f"guest {guest.name}: started (xl create), {guest.memory} MiB, {guest.vcpus} vCPUs")
        yield StringCommand(create_command(guest))
        # Its domid and live config are unknown until read; what later operations
        # need is that it runs, with its memory taken from the Dom0's free memory.
        started = XlDomain(guest.name, -1, guest.memory, guest.vcpus, frozenset({"blocked"}), "-b----", 0.0)
        yield record(lambda: current.domains.append(started))
        return
    drift: Drift = guest_drift(guest, domain, current.live_configs.get(guest.name))
    if drift.empty:
        noop(f"guest {guest.name} is running as declared")
        return
    if drift.needs_restart and (restart_on_change or guest.restart_on_change or drift.install_finished):
        why = "installation finished, booting from disk" if drift.install_finished else "; ".join(drift.restart)
        plan(f"guest {guest.name}: restarted ({shutdown_words(guest, shutdown_timeout)}, then xl create), because {why}")
        announce(f"restarting guest {guest.name}: {why}")
        yield StringCommand(shutdown_command(guest, shutdown_timeout))
        yield StringCommand(create_command(guest))
        yield forget_afterwards()
        return
    for change in drift.live_changes():
        plan(f"guest {guest.name}: {change}")
    if drift.needs_restart and (current.config_sha256.get(config_path(guest.name)) != rendered_digest(guest, current)
                                or config_path(guest.name) in rewritten_this_run()):
        # Said with the config's rewrite, not on every later run (the warning says that).
        for change in drift.restart:
            plan(f"guest {guest.name}: {change} (config only: awaits a restart)")
    for command in drift.live_commands(guest.name):
        yield StringCommand(command)
    if drift.live:
        resized = dataclasses.replace(
            domain,
            mem_mib=drift.memory_mib if drift.memory_mib is not None else domain.mem_mib,
            vcpus=drift.vcpus if drift.vcpus is not None else domain.vcpus,
        )
        yield record(lambda: current.domains.__setitem__(current.domains.index(domain), resized))
    if drift.needs_restart:
        warn(
            f"guest {guest.name} awaits a restart to apply: {'; '.join(drift.restart)} "
            '(set "restart_on_change": True to let the deploy restart it)',
        )
        if not drift.live:
            noop(f"guest {guest.name}: restart pending")


@operation()
@changes_host
@plans_first
def remove(guest: GuestSpec, read: GuestsRead, shutdown_timeout: int = 120):
    """
    ``state: absent``: stop the guest, remove its config file; with
    ``destroy_disks: True`` (and only then) also destroy its ZFS volumes and
    disk files. Devices are never touched.

    .. code:: python

        guests.remove(guest=spec, read=read)
    """

    current = guests_state(read)
    path = config_path(guest.name)
    acted = False
    if current.domain(guest.name) is not None:
        acted = True
        plan(f"guest {guest.name}: shut down ({shutdown_words(guest, shutdown_timeout)})")
        yield StringCommand(shutdown_command(guest, shutdown_timeout))
    if current.config_sha256.get(path) is not None:
        acted = True
        plan(f"guest {guest.name}: {path} removed")
        # The .bak of older runs may hold the VNC password too.
        yield argv("rm", "-f", path, backup_path(path))
    if guest.destroy_disks:
        for disk in guest.disks:
            if disk.zvol and disk.zvol in current.volumes:
                acted = True
                plan(f"guest {guest.name}: volume {disk.zvol} destroyed (zfs destroy)")
                yield argv("zfs", "destroy", disk.zvol)
            elif disk.file and current.paths.get(disk.file) is not None:
                acted = True
                plan(f"guest {guest.name}: disk file {disk.file} removed")
                yield argv("rm", "-f", disk.file)
    if not acted:
        kept = "" if guest.destroy_disks else " (its disks are kept)"
        noop(f"guest {guest.name} is absent{kept}")


# Autostart and the Dom0's shutdown ----------------------------------------------------


# rc.conf(5): rc.shutdown's own watchdog (rcshutdown_timeout) defaults to 90 s, and
# init(8) kills rc.shutdown after kern.init_shutdown_timeout (120 s by default)
# whatever rcshutdown_timeout says. When either fires, the guests still running
# lose power instead of shutting down.
DEFAULT_RCSHUTDOWN_TIMEOUT = 90
DEFAULT_INIT_SHUTDOWN_TIMEOUT = 120
INIT_SHUTDOWN_SYSCTL = "kern.init_shutdown_timeout"
# What the other rc.d scripts' stops may take besides xendomains.
OTHER_SERVICES_SECONDS = 30


@dataclass(frozen=True)
class ShutdownBudget:
    """Seconds the Dom0's shutdown must be given so that xendomains can finish."""

    rcshutdown_timeout: int
    init_shutdown_timeout: int


def shutdown_budget(shutdown_timeout: int) -> ShutdownBudget:
    """
    xendomains asks every guest to shut down at once and waits for all of them
    with one deadline (``shutdown_timeout``), then destroys the rest and waits
    at most ``XENDOMAINS_DESTROY_WAIT``: its stop is bounded by that, whatever
    the number of guests. rc.shutdown needs it plus the other services' stops;
    init's hard limit is set above rc.shutdown's own watchdog, so that the
    watchdog, which says so on the console, is the one that fires.
    """

    rc = int(shutdown_timeout) + XENDOMAINS_DESTROY_WAIT + OTHER_SERVICES_SECONDS
    return ShutdownBudget(rc, rc + OTHER_SERVICES_SECONDS)


def raised_init_shutdown_command(seconds: int) -> str:
    """Raise kern.init_shutdown_timeout live to ``seconds``, never lowering a larger value."""

    wanted = int(seconds)
    return (
        f'[ "$(sysctl -n {INIT_SHUTDOWN_SYSCTL})" -ge {wanted} ] 2>/dev/null || '
        f"sysctl {INIT_SHUTDOWN_SYSCTL}={wanted} >/dev/null"
    )


def autostart_script() -> str:
    return resources.files("operations").joinpath("assets/xendomains").read_text()


def _int_setting(values: dict[str, str], key: str, default: int) -> int:
    """An integer setting of an rc-style file, or its default when unset or not a number."""

    value = values.get(key, "")
    return int(value) if value.strip().isdigit() else default


@operation()
@plans_first
def autostart(
    guests: list[GuestSpec],
    read: GuestsRead,
    delay: int = 0,
    shutdown_timeout: int = 120,
    arriving: dict[str, str] | None = None,
):
    """
    Install the ``xendomains`` rc.d script (FreeBSD's Xen packages ship none),
    list the autostart guests in rc.conf in declaration order (they start after
    ``xencommons`` at boot) and enable it whenever a guest is declared to run,
    so that at Dom0 shutdown every running guest is shut down cleanly, all at
    once, within ``shutdown_timeout``. When that needs longer than FreeBSD
    allows rc.shutdown, ``rcshutdown_timeout`` (rc.conf) and
    ``kern.init_shutdown_timeout`` (live and in /etc/sysctl.conf) are raised
    together: either one alone cuts the guests' shutdown. Values already larger
    are kept.

    .. code:: python

        guests.autostart(guests=specs, read=read, delay=5)
    """

    current = guests_state(read)
    arriving = arriving or {}
    names = [
        g.name
        for g in guests
        if g.autostart and g.state == "running" and not not_arrived(g, current, arriving.get(g.name))
    ]
    runs_guests = any(g.state == "running" for g in guests)
    acted = yield from write_if_changed(current, AUTOSTART_SCRIPT, autostart_script(), "is installed", mode="555")
    old = current.file(RC_CONF) or ""
    existing = parse_rc_text(old)
    values = {
        "xendomains_enable": "YES" if runs_guests else "NO",
        "xendomains_list": " ".join(names),
        "xendomains_delay": str(delay),
        "xendomains_timeout": str(shutdown_timeout),
    }
    if not runs_guests and "xendomains_list" not in existing:
        values = {}
    budget = shutdown_budget(shutdown_timeout) if runs_guests else None
    rcshutdown_timeout = _int_setting(existing, "rcshutdown_timeout", DEFAULT_RCSHUTDOWN_TIMEOUT)
    if budget and budget.rcshutdown_timeout > rcshutdown_timeout:
        values["rcshutdown_timeout"] = str(budget.rcshutdown_timeout)
    wrote = yield from write_if_changed(current, RC_CONF, set_rc_values(old, values), "lists the autostart guests")
    raised = False
    if budget:
        raised = yield from init_shutdown_timeout(current, budget.init_shutdown_timeout)
    if not (acted or wrote or raised):
        noop(f"autostart: {' '.join(names) or 'no guests'}")


def init_shutdown_timeout(current: GuestsHost, seconds: int):
    """
    kern.init_shutdown_timeout at least ``seconds``, live and in
    /etc/sysctl.conf (what the next boot applies). Returns whether it acted.
    """

    old = current.file(SYSCTL_CONF) or ""
    persisted = _int_setting(parse_rc_text(old), INIT_SHUTDOWN_SYSCTL, DEFAULT_INIT_SHUTDOWN_TIMEOUT)
    live = current.init_shutdown_timeout
    acted = False
    if live is None or live < seconds:
        # An unreadable live value: the command itself never lowers a larger one.
        acted = True
        plan(f"sysctl: {INIT_SHUTDOWN_SYSCTL} {live if live is not None else 'unreadable'} -> {seconds} (live)")
        yield StringCommand(raised_init_shutdown_command(seconds))
        yield record(lambda: setattr(current, "init_shutdown_timeout", seconds))
    if persisted < seconds:
        new = set_rc_values(old, {INIT_SHUTDOWN_SYSCTL: str(seconds)}, quote=False)
        wrote = yield from write_if_changed(current, SYSCTL_CONF, new, f"sets {INIT_SHUTDOWN_SYSCTL}={seconds}")
        acted = acted or wrote
    return acted
