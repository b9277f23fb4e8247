"""
What the fleet status shows of a Dom0, in one remote command: the guests
deploy's own reads (``xl list``, ``xl list -l`` with passwords redacted on the
host, ``xl info``, the guest configs, rc.conf's autostart settings), plus the
FreeBSD release and size, each domain's uptime (``xl uptime``) and the port of
each domain's VNC display (xenstore, where ``xl vncviewer`` finds it too).

Read-only: nothing here writes. The sections are parsed by the same functions
the deploys use (facts.guests, facts.xl, facts.freebsd).

.. code:: python

    from facts.status import HostStatus
    read = host.get_fact(HostStatus)     # StatusHost, or Unreadable(reason)
    read.guests.domains                  # as facts.guests.GuestsHost
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from .dom0 import RC_CONF
from .files import file_section
from .freebsd import parse_sysctl, sysctl_command
from .guests import GuestsHost, guests_commands, parse_guests_sections
from .sections import ReadError, Section, composite_command, split_sections

STATUS_SYSCTLS = ("kern.osrelease", "hw.ncpu", "hw.physmem")

# The guests deploy's sections the status shows (the same commands, taken from
# facts.guests so the two reads cannot drift apart).
GUEST_SECTIONS = ("xl_list", "xl_long", "xl_info", "configs", "managed", file_section(RC_CONF))

# The domids of the domUs, from `xl list`: the fifth field from the end of a
# row (a name may hold spaces), digits only, Domain-0 (0) left out.
DOMU_IDS_COMMAND = "xl list | awk 'NR > 1 && $(NF-4) ~ /^[0-9]+$/ && $(NF-4) != 0 { print $(NF-4) }'"

# Each domU's uptime. Never `xl uptime` alone: without arguments it starts with
# Domain-0, whose uptime xl reads from /proc/uptime (tools/xl print_dom0_uptime),
# which FreeBSD does not have: xl prints "Can not get Dom0 uptime." and exits.
# Given domids, it prints only theirs (one that has gone meanwhile prints nothing).
# $ids is unquoted on purpose: digits only, one word per domain.
XL_UPTIME_COMMAND = f'ids=$({DOMU_IDS_COMMAND}); if [ -n "$ids" ]; then xl uptime $ids; fi'

# Each guest's VNC port as QEMU chose it (xl.cfg vncunused, the default: the
# project writes no vncdisplay): libxl stores it in xenstore, where
# `xl vncviewer` reads it (libxl_vncviewer_exec). One "domid port" line per
# domU; "domid -" when the domain has no VNC port (or xenstore-read fails).
VNC_PORTS_COMMAND = (
    f"{DOMU_IDS_COMMAND} | while read -r id; do "
    'port=$(xenstore-read "/local/domain/$id/console/vnc-port" 2>/dev/null) || port=-; '
    'printf "%s %s\\n" "$id" "${port:--}"; done'
)


def status_commands() -> dict[str, str]:
    guests = guests_commands((), (), ())
    commands = {name: guests[name] for name in GUEST_SECTIONS}
    commands["sysctl"] = sysctl_command(STATUS_SYSCTLS)
    commands["uptime"] = XL_UPTIME_COMMAND
    commands["vnc_ports"] = VNC_PORTS_COMMAND
    return commands


# tools/xl/xl_misc.c uptime_to_string, long form: "%d days, %2d:%02d:%02d",
# "%d day, %2d:%02d:%02d" or "%2d:%02d:%02d".
_UPTIME = re.compile(r"^(?:(?P<days>\d+) days?, +)?(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d)$")
# print_uptime: "%-33s %4s %s" header, "%-33s %4d %s" rows (name, domid, uptime).
_UPTIME_ROW = re.compile(r"^(?P<name>\S.*?)\s+(?P<domid>\d+)\s+(?P<uptime>(?:\d+ days?, +)?\d+:\d\d:\d\d)\s*$")
_UPTIME_HEADER = re.compile(r"^Name\s+ID\s+Uptime\s*$")


def uptime_seconds(text: str) -> int:
    """``3 days,  4:05:06`` (xl's long uptime form) -> seconds."""

    match = _UPTIME.match(text.strip())
    if not match:
        raise ValueError(f"not an xl uptime: {text.strip()[:40]!r}")
    days = int(match.group("days") or 0)
    return days * 86400 + int(match.group("h")) * 3600 + int(match.group("m")) * 60 + int(match.group("s"))


def parse_xl_uptime(text: str) -> dict[str, int]:
    """
    ``xl uptime`` (tools/xl/xl_misc.c print_uptime) -> ``{domain name: seconds}``.
    Every line but the header must be a row: anything else is a ``ReadError``.
    """

    uptimes = {}
    for line in text.splitlines():
        if not line.strip() or _UPTIME_HEADER.match(line.strip()):
            continue
        match = _UPTIME_ROW.match(line.strip())
        if not match:
            raise ReadError(f"cannot parse xl uptime: {line.strip()[:80]!r}")
        uptimes[match.group("name")] = uptime_seconds(match.group("uptime"))
    return uptimes


def parse_vnc_ports(text: str) -> dict[int, int | None]:
    """``VNC_PORTS_COMMAND``'s lines -> ``{domid: port}`` (``None``: no port known)."""

    ports: dict[int, int | None] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        domid, _, port = line.strip().partition(" ")
        if not domid.isdigit() or not (port == "-" or port.isdigit()):
            raise ReadError(f"cannot parse the VNC ports: {line.strip()[:80]!r}")
        ports[int(domid)] = None if port == "-" else int(port)
    return ports


@dataclass
class StatusHost:
    guests: GuestsHost
    release: str  # kern.osrelease, e.g. "14.1-RELEASE-p5"
    ncpu: int
    physmem_mib: int
    # {domain name: seconds}; None when `xl uptime` failed (uptime_error says why)
    uptimes: dict[str, int] | None = None
    uptime_error: str = ""
    vnc_ports: dict[int, int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Unreadable:
    """A host whose status could not be read: shown as such, never guessed."""

    reason: str


def parse_status_sections(sections: dict[str, Section]) -> StatusHost:
    guests = parse_guests_sections({name: sections[name] for name in GUEST_SECTIONS})
    sysctl = sections["sysctl"]
    values = parse_sysctl(sysctl.text) if sysctl.ok else {}
    if not values.get("kern.osrelease"):
        raise ReadError(f"cannot read kern.osrelease: {' '.join(sysctl.text.split())[:200] or sysctl.rc}")
    uptime = sections["uptime"]
    uptimes, uptime_error = None, ""
    if guests.xl_works and uptime.ok:
        uptimes = parse_xl_uptime(uptime.text)
    elif guests.xl_works:
        uptime_error = " ".join(uptime.text.split())[:200] or f"exit status {uptime.rc}"
    ports = sections["vnc_ports"]
    return StatusHost(
        guests=guests,
        release=values["kern.osrelease"],
        ncpu=int(values.get("hw.ncpu", "0") or 0),
        physmem_mib=int(values.get("hw.physmem", "0") or 0) // (1024 * 1024),
        uptimes=uptimes,
        uptime_error=uptime_error,
        vnc_ports=parse_vnc_ports(ports.text) if guests.xl_works and ports.ok else {},
    )


class HostStatus(FactBase):
    """
    The fleet status's read of one Dom0, in one command: a ``StatusHost``, or
    ``Unreadable(reason)`` when the answer cannot be parsed completely (the
    caller fails the host and shows it as unreadable; nothing is guessed).

    .. code:: python

        from facts.status import HostStatus
        read = host.get_fact(HostStatus)
    """

    def command(self) -> str:
        return composite_command(status_commands())

    def process(self, output: list[str]) -> StatusHost | Unreadable:
        try:
            return parse_status_sections(split_sections(output, expected=status_commands()))
        except ReadError as error:
            return Unreadable(str(error))
        except (ValueError, KeyError, TypeError) as error:
            return Unreadable(f"cannot parse the host's answer: {type(error).__name__}: {error}")
