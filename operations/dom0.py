"""
Operations that turn a FreeBSD host into a Xen Dom0, one concern each, in the
FreeBSD Handbook's order. Each reads the composite ``Dom0State`` (one remote
command per host, see ``operations/state.py``), decides, and yields commands or
a noop saying precisely why nothing is needed.

    from operations import dom0
    spec = validate_dom0(host.name, host.data.dict())
    dom0.packages(spec=spec)
    dom0.loader_conf(spec=spec)
    dom0.reboot_into_xen(spec=spec)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from time import monotonic

from gevent import sleep
from pyinfra import host, logger
from pyinfra.api import FunctionCommand, StringCommand, operation

from facts.dom0 import (
    AUTOSTART_SCRIPT,
    LOADER_CONF,
    LOGIN_CONF,
    MENU_RC_LOCAL,
    RC_CONF,
    SYSCTL_CONF,
    TTYS,
    XEN_LOG_DIR,
    XL_CONF,
    Dom0Host,
    Dom0State,
)
from facts.files import SYMLINK
from facts.logincap import set_login_capability
from facts.rcfile import parse_rc_text
from facts.ttys import ensure_tty
from facts.xl import NAMELESS
from spec.schema import Dom0Spec
from spec.versions import end_of_life_note

from .commands import argv
from .files import words_change, write_if_changed
from .guests import autostart_script
from .rcfile import set_rc_values
from .state import changes_host, forget_state, read_state, record
from .steps import announce, noop, plan, plans_first, warn

# sysctl(8) reads -1 back as the unsigned maximum for u_long oids such as
# vm.max_user_wired; both mean "no limit".
WIRED_UNLIMITED = {"-1", "18446744073709551615", "9223372036854775807"}
MEMORY_SLACK_MIB = 64
BOOT_MENU_LINE = "try-include /boot/xen.4th"


def dom0_state() -> Dom0Host:
    return read_state(host, Dom0State)


# Pre-flight ---------------------------------------------------------------


def preflight_problems(dom0: Dom0Host, spec: Dom0Spec) -> list[str]:
    """
    Everything that rules this host out as a Dom0, checked before any change.
    The hardware checks only make sense before Xen runs: Xen hides VT-x/EPT and
    the DMAR/IVRS tables from its Dom0.
    """

    release = spec.release
    problems = []
    if dom0.arch != "amd64":
        problems.append(f"Xen Dom0 needs amd64, this host is {dom0.arch or 'of unknown architecture'}")
    major = dom0.freebsd_major
    if major is None:
        problems.append(f"cannot tell the FreeBSD release from {dom0.release!r}")
    elif not release.supports_freebsd(major):
        problems.append(
            f"{release.label} runs on {release.supported_freebsd_text()}, this host runs {dom0.release}: "
            "choose another xen_version or upgrade FreeBSD",
        )
    if major is not None and major < 14 and dom0.boot_method == "UEFI":
        problems.append(
            f"this host boots with UEFI, and a UEFI Xen Dom0 needs FreeBSD 14 or later ({dom0.release} "
            "can only boot Xen from the BIOS/legacy loader): switch the firmware to legacy boot or upgrade",
        )
    if not dom0.under_xen:
        cpu = dom0.cpu
        if cpu.disabled_in_bios:
            problems.append("CPU virtualisation (VT-x/AMD-V) is disabled in the BIOS: enable it in the firmware setup")
        elif not cpu.hvm:
            problems.append("the CPU offers no hardware virtualisation (no VT-x or AMD-V in /var/run/dmesg.boot)")
        elif not cpu.slat:
            problems.append(
                "the CPU lacks second-level paging (Intel EPT / AMD NPT), which a PVH Dom0 and HVM guests need",
            )
        if not ({"DMAR", "IVRS"} & dom0.acpi_tables):
            problems.append(
                "no IOMMU: acpidump shows no DMAR (Intel VT-d) or IVRS (AMD-Vi) table; enable it in the firmware setup",
            )
    wanted = set(release.packages)
    for name, version in sorted(dom0.packages.items()):
        if name.startswith(("xen-kernel", "xen-tools")) and name not in wanted:
            problems.append(
                f"{name}-{version} is installed but xen_version asks for {release.label} "
                f"({' '.join(release.packages)}): remove it with 'pkg delete {name}' first",
            )
    total_cpus = int(dom0.xen_info.get("nr_cpus", 0)) if dom0.xen_info else dom0.ncpu
    if total_cpus and spec.xen_dom0_max_vcpus > total_cpus:
        problems.append(f"xen_dom0_max_vcpus is {spec.xen_dom0_max_vcpus} but the host has {total_cpus} CPUs")
    total_mib = int(dom0.xen_info.get("total_memory", 0)) if dom0.xen_info else dom0.physmem_mib
    if total_mib and spec.dom0_mem_mib >= total_mib:
        problems.append(f"xen_dom0_mem is {spec.xen_dom0_mem} but the host has only {total_mib}M of memory")
    missing = [name for name in spec.xen_bridge_members if name not in dom0.interfaces]
    if missing:
        problems.append(
            f"xen_bridge_members: {', '.join(missing)} not found on this host "
            f"(it has: {' '.join(dom0.interfaces) or 'no interfaces'})",
        )
    for path in (LOGIN_CONF, TTYS):
        if dom0.file(path) is None:
            problems.append(f"{path} is missing: restore the stock file before making this host a Dom0")
    if dom0.log_dir and dom0.log_dir[0] != "Directory":
        problems.append(f"{XEN_LOG_DIR} exists but is a {dom0.log_dir[0].lower()}: move it out of the way")
    # A directory or device where a file we manage belongs can never be written:
    # say so now rather than half-way. A symlink is judged at its write: one
    # that already says what we want is left alone.
    problems.extend(
        read.write_refusal() for read in dom0.files.values() if read.write_refusal() and read.kind != SYMLINK
    )
    return problems


# Configuration ----------------------------------------------------------------


@operation()
@changes_host
@plans_first
def packages(spec: Dom0Spec):
    """
    Install the Xen kernel and tools packages for ``xen_version`` with pkg(8),
    bootstrapping pkg first on a fresh FreeBSD. A FreeBSD past its end of life (13 since 2026-04-30) is said, every run.

    .. code:: python

        dom0.packages(spec=spec)
    """

    dom0 = dom0_state()
    eol = end_of_life_note(dom0.release, dom0.freebsd_major, date.today().isoformat())
    if eol:
        warn(eol)
    missing = [name for name in spec.release.packages if name not in dom0.packages]
    if not missing:
        installed = ", ".join(f"{n}-{dom0.packages[n]}" for n in spec.release.packages)
        noop(f"Xen packages are installed: {installed}")
        return
    if not dom0.pkg_bootstrapped:
        # pkg install's own -y does not answer the bootstrapper's question (pkg.c main())
        plan("packages: bootstrap pkg first (a fresh FreeBSD has only /usr/sbin/pkg, which installs it)")
        yield bootstrap_command()
    plan(f"packages: install {' '.join(missing)} (pkg install)")
    yield argv("pkg", "install", "-y", *missing)


def bootstrap_command():
    """pkg(7)'s non-interactive bootstrap: ASSUME_ALWAYS_YES is what it reads without a tty."""

    return argv("env", "ASSUME_ALWAYS_YES=yes", "pkg", "bootstrap")


@operation()
@plans_first
def wired_memory():
    """
    Let Xen's tools wire guest memory: ``vm.max_user_wired=-1`` (FreeBSD 13+;
    ``vm.max_wired`` before), set live and in /etc/sysctl.conf. On 13+ a
    leftover ``vm.max_wired`` line (the handbook's old name) is removed, since
    the kernel no longer knows it.

    .. code:: python

        dom0.wired_memory()
    """

    dom0 = dom0_state()
    name = dom0.wired_sysctl
    obsolete = ("vm.max_wired",) if name == "vm.max_user_wired" else ()
    live = dom0.sysctl.get(name)
    changed = False
    if live not in WIRED_UNLIMITED:
        changed = True
        plan(f"sysctl: {name} {live if live is not None else 'unreadable'} -> -1 (live)")
        yield argv("sysctl", f"{name}=-1")
        yield record(lambda: dom0.sysctl.__setitem__(name, "-1"))
    new = set_rc_values(dom0.file(SYSCTL_CONF) or "", {name: "-1"}, remove=obsolete, quote=False)
    wrote = yield from write_if_changed(dom0, SYSCTL_CONF, new, f"already sets {name}=-1")
    if not changed and not wrote:
        noop(f"{name} is -1 now and at boot")


@operation()
@plans_first
def login_class():
    """
    ``memorylocked=unlimited`` in login.conf's ``default`` class (whatever the
    value was before), then ``cap_mkdb`` when the file changed or the compiled
    database is older than the file.

    .. code:: python

        dom0.login_class()
    """

    dom0 = dom0_state()
    old = dom0.file(LOGIN_CONF) or ""
    new = set_login_capability(old, "default", "memorylocked", "unlimited")
    wrote = yield from write_if_changed(dom0, LOGIN_CONF, new, "default class has memorylocked=unlimited")
    if wrote or not dom0.login_db_fresh:
        plan(f"{LOGIN_CONF}.db: rebuilt (cap_mkdb)")
        yield argv("cap_mkdb", LOGIN_CONF)
        yield record(lambda: setattr(dom0, "login_db_fresh", True))
    else:
        noop(f"{LOGIN_CONF}.db is up to date")


def console_line(freebsd_major: int) -> str:
    # onifconsole (FreeBSD 12+) runs the getty only when xc0 is the console,
    # so the line is harmless when the host boots without Xen.
    status = "onifconsole" if freebsd_major >= 12 else "on"
    return f'xc0\t"/usr/libexec/getty Pc"\t\txterm\t{status}  secure'


@operation()
@plans_first
def console():
    """
    The Xen console ``xc0`` in /etc/ttys, exactly once (FreeBSD 14's stock file
    already has it).

    .. code:: python

        dom0.console()
    """

    dom0 = dom0_state()
    old = dom0.file(TTYS) or ""
    new = ensure_tty(old, "xc0", console_line(dom0.freebsd_major or 14))
    yield from write_if_changed(dom0, TTYS, new, "has the xc0 console")


def loader_values(spec: Dom0Spec) -> dict[str, str]:
    values = {"xen_kernel": "/boot/xen", "xen_cmdline": spec.cmdline}
    values.update(spec.release.loader_tunables)
    return values


@operation()
@plans_first
def loader_conf(spec: Dom0Spec):
    """
    ``xen_kernel`` and ``xen_cmdline`` (plus ``hw.pci.mcfg=0`` for Xen 4.7) in
    /boot/loader.conf, set in place, written atomically with a backup.

    .. code:: python

        dom0.loader_conf(spec=spec)
    """

    dom0 = dom0_state()
    new = set_rc_values(dom0.file(LOADER_CONF) or "", loader_values(spec))
    effect = "takes a reboot" if dom0.under_xen else "Xen starts at the next boot"
    yield from write_if_changed(dom0, LOADER_CONF, new, f'boots Xen with "{spec.cmdline}"', effect=effect)


@operation()
@plans_first
def log_dir():
    """
    /var/log/xen as a directory root can traverse (0755: the handbook's 644
    would make it unusable).

    .. code:: python

        dom0.log_dir()
    """

    dom0 = dom0_state()
    if dom0.log_dir == ("Directory", "755"):
        noop(f"{XEN_LOG_DIR} is a 0755 directory")
        return
    plan(f"{XEN_LOG_DIR}: made a 0755 directory")
    yield argv("mkdir", "-p", XEN_LOG_DIR)
    yield argv("chmod", "755", XEN_LOG_DIR)
    yield record(lambda: setattr(dom0, "log_dir", ("Directory", "755")))


@operation()
@plans_first
def boot_menu(spec: Dom0Spec):
    """
    ``try-include /boot/xen.4th`` in /boot/menu.rc.local: only the Xen 4.7
    packages ship that boot-menu file.

    .. code:: python

        dom0.boot_menu(spec=spec)
    """

    if not spec.release.ships_boot_menu:
        noop(f"{spec.release.label} ships no boot menu entry (/boot/xen.4th)")
        return
    dom0 = dom0_state()
    old = dom0.file(MENU_RC_LOCAL)
    lines = (old or "").splitlines()
    if BOOT_MENU_LINE in (line.strip() for line in lines):
        noop(f"{MENU_RC_LOCAL} includes /boot/xen.4th")
        return
    new = "\n".join([*lines, BOOT_MENU_LINE]) + "\n"
    yield from write_if_changed(dom0, MENU_RC_LOCAL, new, "includes /boot/xen.4th")


def bridge_rc_values(spec: Dom0Spec, current: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The rc.conf keys for the guests' bridge, and the keys to drop."""

    bridge = spec.xen_bridge
    cloned = current.get("cloned_interfaces", "").split()
    values = {
        "xencommons_enable": "YES",
        "cloned_interfaces": " ".join([*cloned, bridge]) if bridge not in cloned else " ".join(cloned),
    }
    remove = []
    autobridged = current.get("autobridge_interfaces", "").split()
    if spec.xen_bridge_style == "cloned":
        addm = " ".join(f"addm {member}" for member in spec.xen_bridge_members)
        values[f"ifconfig_{bridge}"] = f"{addm} {spec.xen_bridge_ip}".strip()
        if bridge in autobridged:
            rest = [name for name in autobridged if name != bridge]
            if rest:
                values["autobridge_interfaces"] = " ".join(rest)
            else:
                remove.append("autobridge_interfaces")
        if f"autobridge_{bridge}" in current:
            remove.append(f"autobridge_{bridge}")
    else:
        values["autobridge_interfaces"] = " ".join(autobridged if bridge in autobridged else [*autobridged, bridge])
        values[f"autobridge_{bridge}"] = " ".join(spec.xen_bridge_members)
        if spec.xen_bridge_ip:
            values[f"ifconfig_{bridge}"] = spec.xen_bridge_ip
        elif f"ifconfig_{bridge}" in current:
            remove.append(f"ifconfig_{bridge}")
    for member in spec.xen_bridge_members:
        values[f"ifconfig_{member}"] = "up"
    return values, remove


@operation()
@plans_first
def rc_conf(spec: Dom0Spec):
    """
    rc.conf: ``xencommons_enable="YES"`` and the guests' bridge in the chosen
    style, keeping any other ``cloned_interfaces`` entries.

    .. code:: python

        dom0.rc_conf(spec=spec)
    """

    dom0 = dom0_state()
    old = dom0.file(RC_CONF) or ""
    values, remove = bridge_rc_values(spec, parse_rc_text(old))
    new = set_rc_values(old, values, remove=remove)
    yield from write_if_changed(dom0, RC_CONF, new, f"enables xencommons and {spec.xen_bridge}")


@operation()
@plans_first
def xl_conf(spec: Dom0Spec):
    """
    xl.conf: guests' vifs default to our bridge, and ``autoballoon="off"``
    because ``dom0_mem`` fixes the Dom0's memory.

    .. code:: python

        dom0.xl_conf(spec=spec)
    """

    dom0 = dom0_state()
    values = {"vif.default.bridge": spec.xen_bridge, "autoballoon": "off"}
    new = set_rc_values(dom0.file(XL_CONF) or "", values)
    yield from write_if_changed(dom0, XL_CONF, new, f"defaults vifs to {spec.xen_bridge}, autoballoon off")


# Reboot and verification ------------------------------------------------------


def pending_reboot_reasons(dom0: Dom0Host, spec: Dom0Spec) -> list[str]:
    """Why the running system differs from what the boot files now ask for."""

    reasons = []
    if not dom0.under_xen:
        reasons.append("Xen is not running yet")
    elif dom0.xen_info is not None:
        running = str(dom0.xen_info.get("xen_commandline", "")).strip()
        if running != spec.cmdline:
            reasons.append(
                f"xen_cmdline changed ({words_change(running, spec.cmdline)}): "
                f'Xen runs with "{running}", loader.conf now says "{spec.cmdline}"',
            )
    if spec.xen_bridge not in dom0.interfaces:
        reasons.append(f"{spec.xen_bridge} does not exist yet")
    return reasons


def running_problems(dom0: Dom0Host, spec: Dom0Spec) -> list[str]:
    """How a Dom0 that runs Xen differs from the spec (empty when it matches)."""

    if not dom0.under_xen or not dom0.xl_works:
        detail = dom0.xl_error.splitlines()[-1] if dom0.xl_error else "xl does not answer"
        return [f"the host is not running as a Xen Dom0 ({detail})"]
    problems = []
    info = dom0.xen_info or {}
    domain0 = dom0.domain("Domain-0")
    if domain0 is None:
        problems.append("xl list shows no Domain-0")
    else:
        if not spec.dom0_mem_mib - MEMORY_SLACK_MIB <= domain0.mem_mib <= spec.dom0_mem_mib:
            problems.append(f"Domain-0 has {domain0.mem_mib}M of memory, xen_dom0_mem asks for {spec.xen_dom0_mem}")
        if domain0.vcpus != spec.xen_dom0_max_vcpus:
            problems.append(f"Domain-0 has {domain0.vcpus} vCPUs, xen_dom0_max_vcpus asks for {spec.xen_dom0_max_vcpus}")
    caps = info.get("virt_caps", frozenset())
    needed = ["hvm"]
    if int(info.get("xen_minor", 0) or 0) >= 14 or "shadow" in caps:
        # Xen lists hap/shadow in virt_caps only from 4.14 on.
        needed.append("hap")
    for cap in needed:
        if cap not in caps:
            problems.append(f"the hypervisor does not offer {cap} (virt_caps: {' '.join(sorted(caps)) or 'none'})")
    if spec.xen_version:
        running = f"{info.get('xen_major')}.{info.get('xen_minor')}"
        if running != spec.xen_version:
            problems.append(f"Xen {running} is running, xen_version asks for {spec.xen_version}")
    return problems


def verify_after_boot(spec: Dom0Spec):
    def verify(state, host) -> bool:
        forget_state(host)
        dom0 = read_state(host, Dom0State)
        problems = pending_reboot_reasons(dom0, spec) + running_problems(dom0, spec)
        for problem in problems:
            host.log_styled(f"after reboot: {problem}", fg="red", log_func=logger.error)
        return not problems

    return FunctionCommand(verify, (), {})


BOOTTIME_COMMAND = "sysctl -n kern.boottime"


def parse_boottime(output: str) -> int | None:
    """``{ sec = 1700000000, usec = 0 } Thu Nov 23 ...`` -> 1700000000."""

    match = re.search(r"sec = (\d+)", output)
    return int(match.group(1)) if match else None


def read_boottime(host) -> int | None:
    try:
        ok, output = host.run_shell_command(BOOTTIME_COMMAND)
    except Exception:  # a connection dropping mid-command is expected around a reboot
        return None
    return parse_boottime("\n".join(output.stdout_lines)) if ok else None


# shutdown(8) runs rc.shutdown, so xendomains shuts the guests down cleanly;
# reboot(8) does not (the guests would lose power).
REBOOT_COMMAND = "shutdown -r now"


def reboot_commands(delay: int, timeout: int):
    """
    Reboot with ``shutdown -r now`` and wait until the host is back with a new
    kern.boottime. The boot time, unlike an uptime guess, tells a rebooted host
    from one that has not gone down yet, however fast either is.
    """

    before: list[int | None] = []

    def record_boottime(state, host) -> bool:
        before.append(read_boottime(host))
        if before[0] is None:
            host.log_styled("cannot read kern.boottime before rebooting", fg="red", log_func=logger.error)
            return False
        return True

    def wait_for_new_boot(state, host) -> bool:
        sleep(delay)
        deadline = monotonic() + timeout
        while monotonic() < deadline:
            host.disconnect()
            host.connect(show_errors=False)
            if host.connected:
                boottime = read_boottime(host)
                if boottime is not None and boottime != before[0]:
                    return True
            sleep(1)
        host.disconnect()
        host.log_styled(f"the host did not come back within {timeout}s of rebooting", fg="red", log_func=logger.error)
        return False

    yield FunctionCommand(record_boottime, (), {})
    # Detached, so the SSH channel closes before the reboot cuts it.
    yield StringCommand(f"( sleep 1 && {REBOOT_COMMAND} ) </dev/null >/dev/null 2>&1 &")
    yield FunctionCommand(wait_for_new_boot, (), {})


# Guests across a Dom0 reboot ----------------------------------------------------


@dataclass(frozen=True)
class RebootGuestsPlan:
    """What a reboot of the Dom0 does to its guests."""

    stopped: tuple[str, ...]  # running now: shut down by xendomains at shutdown
    come_back: tuple[str, ...]  # of those, started again at boot (xendomains_list order)
    stay_stopped: tuple[str, ...]  # of those, not started again
    lose_power: bool  # xendomains is not enabled: nothing shuts them down cleanly
    refusal: str | None  # why the reboot must not happen, None when it may

    def summary(self) -> str:
        if not self.stopped:
            return "no guest runs"
        one = len(self.stopped) == 1
        if self.lose_power:
            how = ("loses" if one else "lose") + " power (no xendomains to stop it)"
        else:
            how = ("is" if one else "are") + " shut down cleanly by xendomains"
        parts = [f"{'guest' if one else 'guests'} {', '.join(self.stopped)} {how}"]
        if self.come_back:
            parts.append(f"back by autostart, in this order: {', '.join(self.come_back)}")
        if self.stay_stopped:
            parts.append(f"stay stopped: {', '.join(self.stay_stopped)}")
        return "; ".join(parts)


def _rc_yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "true", "on", "1")


def _guests_run(names: tuple[str, ...]) -> str:
    return f"guest {names[0]} runs" if len(names) == 1 else f"guests {', '.join(names)} run"


def reboot_guests_plan(
    running: list[str],
    rc_conf: dict[str, str],
    allow_stopping: bool,
    script_current: bool = True,
    script_installed: bool = True,
) -> RebootGuestsPlan:
    """
    From the running domains and rc.conf (``xendomains_enable``,
    ``xendomains_list``): which guests a reboot stops, which come back by
    autostart and which stay stopped. A running guest that would not come back
    refuses the reboot unless ``allow_stopping`` (host data
    ``xen_reboot_stops_guests``). With ``script_current`` false (the installed
    xendomains is missing, or an older one that cannot start guests at boot)
    no guest comes back; without ``script_installed`` none is shut down either.
    """

    guests = tuple(name for name in running if name != "Domain-0")
    enabled = _rc_yes(rc_conf.get("xendomains_enable", ""))
    listed = rc_conf.get("xendomains_list", "").split() if enabled and script_current else []
    come_back = tuple(name for name in listed if name in guests)
    stay_stopped = tuple(name for name in guests if name not in come_back)
    lose_power = bool(guests) and not (enabled and script_installed)
    refusal = None
    if stay_stopped and not allow_stopping:
        if not script_current:
            why = f"{AUTOSTART_SCRIPT} is missing or an older version that cannot start guests at boot"
        elif lose_power:
            why = "xendomains is not enabled: they would lose power"
        else:
            why = "not in xendomains_list"
        refusal = (
            f"refusing to reboot: {_guests_run(stay_stopped)} and would not come back ({why}); run "
            'deploys/guests.py with "autostart": True for them, stop them, set xen_reboot: False to reboot '
            "later yourself, or set xen_reboot_stops_guests: True to let the reboot stop them"
        )
        if NAMELESS in stay_stopped:
            # xl lists a domain it cannot name so, and one an admin named so alike: never taken for gone.
            refusal += (f" ({NAMELESS} is a domain without a name in xenstore: one being destroyed is gone in a "
                        "moment, so run again; one that stays is a zombie, which the reboot clears)")
    return RebootGuestsPlan(guests, come_back, stay_stopped, lose_power, refusal)


def reboot_plan_for(dom0: Dom0Host, spec: Dom0Spec) -> RebootGuestsPlan:
    """``reboot_guests_plan`` for this host's read and host data."""

    running = [domain.name for domain in dom0.domains or ()]
    allow = spec.xen_reboot_stops_guests
    installed = dom0.file(AUTOSTART_SCRIPT)
    script_current = (installed or "").strip() == autostart_script().strip()
    rc_conf = parse_rc_text(dom0.file(RC_CONF) or "")
    return reboot_guests_plan(running, rc_conf, allow, script_current, script_installed=installed is not None)


def shutdown_limit(dom0: Dom0Host) -> int:
    """
    Seconds init gives rc.shutdown at the reboot (kern.init_shutdown_timeout as
    sysctl.conf sets it, 120 by default; below 2 means 120, as init(8) reads it):
    the guests' shutdown can hold the reboot up that long.
    """

    value = parse_rc_text(dom0.file(SYSCTL_CONF) or "").get("kern.init_shutdown_timeout", "")
    seconds = int(value) if value.strip().isdigit() else 120
    return seconds if seconds >= 2 else 120


def refuse(message: str) -> FunctionCommand:
    def refused(state, host) -> bool:
        host.log_styled(message, fg="red", log_func=logger.error)
        return False

    return FunctionCommand(refused, (), {})


@operation(is_idempotent=False)
@changes_host
@plans_first
def reboot_into_xen(spec: Dom0Spec, delay: int = 2, reboot_timeout: int = 900):
    """
    Reboot when the boot-time configuration is not what runs (Xen not running,
    another Xen command line, the bridge missing), and ``xen_reboot`` allows it,
    with ``shutdown -r now`` so that rc.shutdown shuts the guests down cleanly
    (refused while a running guest would not come back by autostart, unless
    ``xen_reboot_stops_guests``); wait for the host, then check with ``xl
    list``/``xl info`` that Domain-0 runs with the configured memory and vCPUs
    and the hypervisor offers hvm and hap. The wait is ``reboot_timeout`` plus
    the time init allows the guests' shutdown.

    .. code:: python

        dom0.reboot_into_xen(spec=spec)
    """

    dom0 = dom0_state()
    reasons = pending_reboot_reasons(dom0, spec)
    if not reasons:
        noop(f"Xen {dom0.xen_info.get('xen_version') if dom0.xen_info else ''} runs as configured")
        return
    if not spec.xen_reboot:
        warn("REBOOT PENDING (xen_reboot is False): " + "; ".join(reasons))
        noop("reboot pending: " + "; ".join(reasons))
        return
    guests_plan = reboot_plan_for(dom0, spec)
    if guests_plan.refusal:
        yield refuse(guests_plan.refusal)
        return
    plan(f"reboot: yes ({REBOOT_COMMAND}), because " + "; ".join(reasons) + f"; {guests_plan.summary()}")
    announce(f"rebooting ({REBOOT_COMMAND}): " + "; ".join(reasons) + f"; {guests_plan.summary()}")
    yield from reboot_commands(delay, reboot_timeout + shutdown_limit(dom0))
    yield verify_after_boot(spec)

