"""
The fleet status, as data, as a table and as JSON: pure functions over each
Dom0's read (facts.status) and the inventory's declarations. Nothing here
talks to a host.

Fail closed: a Dom0 that could not be read is shown as unreadable, and a guest
whose whereabouts depend on it is "unknown", never "stopped".

    model = fleet_status(declared={"xen1": [spec]}, reads={"xen1": read}, ssh={"xen1": ["ssh", "xen1"]})
    print(render_table(model))      # or render_json(model)
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from facts.guests import GuestsHost
from facts.status import StatusHost, Unreadable
from facts.xl import NAMELESS, XlDomain
from spec.guest import GuestSpec

from .drift import guest_drift
from .migrate import MIGRATION_SUFFIXES, base_name

DOM0 = "Domain-0"
JSON_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Place:
    """Where a guest's domain was found."""

    dom0: str
    domain: XlDomain
    read: StatusHost


def domain_state(domain: XlDomain) -> str:
    """xl's state letters in words (a blocked domain is running, just idle)."""

    if domain.name.endswith(MIGRATION_SUFFIXES):
        return "migrating"
    for word, flag in (("crashed", "crashed"), ("dying", "dying"), ("shut down", "shutdown"), ("paused", "paused")):
        if flag in domain.state:
            return word
    return "running"


def autostart_listed(guests: GuestsHost, name: str) -> bool:
    rc = guests.rc_conf
    return rc.get("xendomains_enable", "").upper() == "YES" and name in rc.get("xendomains_list", "").split()


def live_vnc(read: StatusHost, domain: XlDomain) -> dict | None:
    """The running domain's VNC display: listen address and port, from its live config and xenstore."""

    live = (read.guests.live_configs.get(domain.name) or {}).get("config", {})
    build = live.get("b_info", {})
    vnc = (build.get("type.hvm") or {}).get("vnc")
    if vnc is None:
        for vfb in live.get("vfbs", []):
            vnc = vfb.get("vnc")
            break
    if not vnc or str(vnc.get("enable", "True")).lower() not in ("true", "1"):
        return None
    port = read.vnc_ports.get(domain.domid)
    if port is None and vnc.get("display") not in (None, ""):
        port = 5900 + int(vnc["display"])
    return {"listen": vnc.get("listen") or "127.0.0.1", "port": port}


def ssh_words(name: str, data: dict) -> list[str]:
    """The ssh command that reaches a Dom0 as pyinfra does: its port, key, user and address from its host data."""

    words = ["ssh"]
    if data.get("ssh_port"):
        words += ["-p", str(data["ssh_port"])]
    if data.get("ssh_key"):
        words += ["-i", str(data["ssh_key"])]
    address = data.get("ssh_hostname") or name
    return [*words, f"{data['ssh_user']}@{address}" if data.get("ssh_user") else address]


def consoles(name: str, dom0: str, ssh: list[str], read: StatusHost, domain: XlDomain) -> dict:
    """How to reach a running guest's consoles from the operator's machine."""

    serial = shlex.join([*ssh[:1], "-t", *ssh[1:], "xl", "console", name])
    vnc = live_vnc(read, domain)
    result: dict = {"serial": serial, "vnc": None}
    if vnc is not None:
        listen = "127.0.0.1" if vnc["listen"] in ("0.0.0.0", "") else vnc["listen"]
        port = vnc["port"]
        if port is None:
            result["vnc"] = {
                "listen": vnc["listen"], "port": None,
                "hint": f"port unknown: xenstore-read /local/domain/{domain.domid}/console/vnc-port on {dom0}",
            }
        else:
            tunnel = shlex.join([*ssh[:1], "-N", "-L", f"{port}:{listen}:{port}", *ssh[1:]])
            result["vnc"] = {"listen": vnc["listen"], "port": port, "tunnel": tunnel, "viewer": f"localhost:{port}"}
    return result


def drift_words(guest: GuestSpec, place: Place | None) -> list[str]:
    """How the running guest differs from its declaration, in words."""

    if place is None:
        return []
    drift = guest_drift(guest, place.domain, place.read.guests.live_configs.get(place.domain.name))
    # The plan's own words (operations.drift), so the status and a deploy's plan say the same.
    return drift.live_changes() + [f"{item} (takes a restart)" for item in drift.restart]


def _dom0_row(name: str, read, declared: list[GuestSpec]) -> dict:
    row = {
        "name": name,
        "readable": isinstance(read, StatusHost),
        "error": None,
        "freebsd": None,
        "xen": None,
        "dom0_memory_mib": None,
        "dom0_vcpus": None,
        "total_memory_mib": None,
        "free_memory_mib": None,
        "declared_guests": len([g for g in declared if g.state != "absent"]),
        "declared_memory_mib": sum(g.memory for g in declared if g.state == "running"),
    }
    if isinstance(read, Unreadable):
        row["error"] = read.reason
        return row
    if read is None:
        row["error"] = "not read: the host failed before its read (see the messages above)"
        return row
    guests = read.guests
    row["freebsd"] = read.release
    if not guests.xl_works:
        row["error"] = f"Xen does not answer: {guests.xl_error or 'xl failed'}"
        return row
    info = guests.xen_info or {}
    row["xen"] = str(info.get("xen_version") or f"{info.get('xen_major', '?')}.{info.get('xen_minor', '?')}")
    dom0 = guests.domain(DOM0)
    if dom0 is not None:
        row["dom0_memory_mib"], row["dom0_vcpus"] = dom0.mem_mib, dom0.vcpus
    row["total_memory_mib"] = info.get("total_memory")
    row["free_memory_mib"] = info.get("free_memory")
    if read.uptime_error:
        # Only the uptimes are unknown: shown as such, the rest of the read stands.
        row["error"] = f"guests' uptime unknown: xl uptime: {read.uptime_error}"
    return row


def fleet_status(
    declared: dict[str, list[GuestSpec]],
    reads: dict[str, StatusHost | Unreadable | None],
    ssh: dict[str, list[str]],
    undeclared: tuple[str, ...] = (),
) -> dict:
    """
    The fleet's status as a JSON-ready dict: ``dom0s`` (one row per inventory
    host), ``guests`` (every declared guest and every domain found), and
    ``unreadable`` (hosts not read). ``declared`` maps every Dom0 of the
    inventory to its guests; ``reads`` each Dom0 to its read (``None``: not
    read); ``ssh`` each Dom0 to the ssh command words that reach it;
    ``undeclared`` names Dom0s whose declarations are unknown (invalid data).
    """

    dom0s = [_dom0_row(name, reads.get(name), declared.get(name, [])) for name in declared]
    # The Dom0s whose domains we do not know: not read, or their xl did not answer.
    blind = [name for name in declared
             if not isinstance(reads.get(name), StatusHost) or not reads[name].guests.xl_works]
    found: dict[str, list[Place]] = {}
    nameless = []
    for name in declared:
        read = reads.get(name)
        if not isinstance(read, StatusHost) or not read.guests.xl_works:
            continue
        for domain in read.guests.domains or ():
            if domain.name == NAMELESS:
                nameless.append(_nameless_row(name, domain))
            elif domain.name != DOM0:
                found.setdefault(base_name(domain.name), []).append(Place(name, domain, read))

    rows = []
    owners = {guest.name: (dom0, guest) for dom0, guests in declared.items() for guest in guests}
    for guest_name in list(owners) + sorted(set(found) - set(owners)):
        rows.append(_guest_row(guest_name, owners.get(guest_name), found.get(guest_name, []), reads, ssh, blind,
                               undeclared))
    return {
        "format": JSON_FORMAT_VERSION,
        "dom0s": dom0s,
        "guests": [row for row in rows if row is not None] + nameless,
        "unreadable": blind,
    }


def _row(name: str, running_on: list[str], **known) -> dict:
    """A row of the guests table: every field, unknown (None, empty) unless ``known`` gives it."""

    row = {
        "name": name,
        "declared_on": None,
        "declared_state": None,
        "running_on": running_on,
        "state": None,
        "memory_mib": None,
        "vcpus": None,
        "uptime_seconds": None,
        "autostart": None,
        "unmanaged": False,
        "nameless": False,
        "drift": [],
        "consoles": {},
    }
    row.update(known)
    return row


def _nameless_row(dom0: str, domain: XlDomain) -> dict:
    """
    A domain xl lists as ``(null)``: no guest of anyone's (its name is gone), one
    row per Dom0 and domid, never merged with another, no console to offer.
    """

    return _row(
        NAMELESS, [dom0], domid=domain.domid, state=domain_state(domain), memory_mib=domain.mem_mib,
        vcpus=domain.vcpus, nameless=True,
        drift=[f"nameless: domain {domain.domid} has no name in xenstore; one being destroyed goes within "
               f"seconds, one that stays is a zombie that holds its memory ({domain.mem_mib}M)"],
    )


def _guest_row(name, owner, places: list[Place], reads, ssh, blind, undeclared) -> dict | None:
    dom0_name, guest = owner or (None, None)
    row = _row(name, [place.dom0 for place in places], declared_on=dom0_name,
               declared_state=guest.state if guest else None, unmanaged=guest is None)
    here = next((p for p in places if p.dom0 == dom0_name), None)
    place = here or (places[0] if places else None)
    if place is not None:
        domain = place.domain
        row["state"] = domain_state(domain)
        row["memory_mib"], row["vcpus"] = domain.mem_mib, domain.vcpus
        if place.read.uptimes is not None:
            row["uptime_seconds"] = place.read.uptimes.get(domain.name)
        for p in places:
            if domain_state(p.domain) in ("running", "paused"):
                row["consoles"][p.dom0] = consoles(name, p.dom0, ssh.get(p.dom0, ["ssh", p.dom0]), p.read, p.domain)
    elif blind:
        row["state"] = "unknown"
    elif guest is not None and guest.state == "absent":
        row["state"] = "absent"
    else:
        row["state"] = "not running"

    drift = row["drift"]
    if guest is None:
        drift.append("unmanaged: declared on no Dom0" + (f" (the declarations of {', '.join(undeclared)} are unknown)"
                                                         if undeclared else ""))
        return row
    owner_read = reads.get(dom0_name)
    if isinstance(owner_read, StatusHost) and owner_read.guests.xl_works:
        row["autostart"] = autostart_listed(owner_read.guests, name)
    if blind and place is None:
        drift.append(f"unknown: {', '.join(blind)} could not be read")
        return row
    running = place is not None and row["state"] != "migrating"
    if len(places) > 1:
        drift.append(f"found on {' and '.join(p.dom0 for p in places)}")
    if guest.state == "running" and place is None:
        drift.append("not running (declared running)")
    elif guest.state != "running" and running:
        drift.append(f"{row['state']} (declared {guest.state})")
    if place is not None and here is None:
        drift.append(f"runs on {place.dom0}, declared on {dom0_name}: deploys/guests.py moves it back")
    if here is not None and row["state"] != "migrating":
        drift += drift_words(guest, here)
    if guest.state != "absent" and isinstance(owner_read, StatusHost) and owner_read.guests.xl_works:
        if name not in owner_read.guests.config_names:
            drift.append(f"no config file on {dom0_name}")
        wanted = guest.autostart and guest.state == "running"
        if row["autostart"] != wanted:
            drift.append(f"autostart {'off' if wanted else 'on'} (declared {'on' if wanted else 'off'})")
    return row


# Rendering -------------------------------------------------------------------


def uptime_words(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{days}d {clock}" if days else clock


def _cell(value) -> str:
    if value is None:
        return "-"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def problem_words(dom0: dict) -> str:
    error = dom0["error"]
    if not error:
        return "-"
    if dom0["readable"] or error.startswith("not read"):
        return error
    return f"UNREADABLE: {error}"


def declared_words(guest: dict) -> str:
    if guest["nameless"]:
        return "NAMELESS"
    return "UNMANAGED" if guest["unmanaged"] else _cell(guest["declared_on"])


def _mib(value) -> str:
    return "-" if value is None else f"{value}M"


def render_table(model: dict) -> str:
    """The status as text: a table of Dom0s, a table of guests, their drift, and how to reach their consoles."""

    out = ["Dom0s"]
    out += _table(
        ["dom0", "FreeBSD", "Xen", "Dom0 mem", "Dom0 vCPUs", "free mem", "declared mem", "guests", "problem"],
        [[d["name"], _cell(d["freebsd"]), _cell(d["xen"]), _mib(d["dom0_memory_mib"]), _cell(d["dom0_vcpus"]),
          _mib(d["free_memory_mib"]), _mib(d["declared_memory_mib"]), str(d["declared_guests"]),
          problem_words(d)]
         for d in model["dom0s"]],
    )
    out += ["", "Guests"]
    out += _table(
        ["guest", "declared on", "running on", "state", "memory", "vCPUs", "uptime", "autostart", "drift"],
        [[g["name"], declared_words(g), _cell(g["running_on"]),
          _cell(g["state"]), _mib(g["memory_mib"]), _cell(g["vcpus"]), uptime_words(g["uptime_seconds"]),
          _cell(g["autostart"]), "; ".join(g["drift"]) or "none"]
         for g in model["guests"]],
    )
    lines = []
    for guest in model["guests"]:
        for dom0, console in guest["consoles"].items():
            lines.append(f"{guest['name']} on {dom0}:")
            lines.append(f"  serial: {console['serial']}")
            vnc = console["vnc"]
            if vnc is None:
                lines.append("  VNC: none")
            elif vnc["port"] is None:
                lines.append(f"  VNC: {vnc['hint']}")
            else:
                lines.append(f"  VNC: {vnc['tunnel']}   then point a VNC viewer at {vnc['viewer']}")
    if lines:
        out += ["", "Consoles", *lines]
    if model["unreadable"]:
        out += ["", f"UNKNOWN: what {', '.join(model['unreadable'])} run(s) could not be read (see above); "
                "guests that may run there are shown as unknown"]
    return printable("\n".join(out))


def printable(text: str) -> str:
    """Domain names come from the hosts: no control character (a terminal escape) reaches the operator's terminal."""

    return "".join(char if char == "\n" or char.isprintable() else "?" for char in text)


def render_json(model: dict) -> str:
    return json.dumps(model, indent=2, sort_keys=True)
