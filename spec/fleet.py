"""
The guests' side of the host data (``xen_guests`` and the host-wide guest
settings), and the checks that span the whole fleet: a guest belongs to one
Dom0, a MAC address to one interface, and a path (disk file, device, zvol,
install medium) to one guest, across every Dom0.

    specs = validate_guests("xen1", host.data.dict())
    fleet_problems_by_host([("xen1", specs), ("xen2", other)])   # {"xen2": ["xen2: ..."]}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .guest import GuestSpec
from .names import check_dataset, devices_overlap
from .schema import EXTRA_KEY_MODELS, InventoryError, describe_error, xen_keys
from .transport import check_address, check_transport
from .xlcfg import vif_macs


class GuestsHostSpec(BaseModel):
    """Host-data keys for the guests deploy; field names are the keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, hide_input_in_errors=True)

    xen_guests: list[GuestSpec] = Field(default_factory=list)
    xen_restart_on_change: bool = False
    xen_autostart_delay: int = Field(default=0, ge=0, le=3600)
    xen_shutdown_timeout: int = Field(default=120, ge=1, le=3600)
    # safety snapshots kept per volume (operations.snapshots)
    xen_snapshot_keep: int = Field(default=3, ge=1, le=100)
    # How other Dom0s reach this one for live migration (default: its inventory name).
    xen_migrate_address: str | None = None
    # xl migrate's transport (-s): the command that reaches the target, e.g. "ssh -p 2222";
    # spec.transport builds what xl and the pre-flight probe run from it.
    xen_migrate_ssh: str = "ssh"
    # ZFS volumes a replicated move left on this Dom0, to destroy (operations.leftovers)
    xen_destroy_left_volumes: list[str] = Field(default_factory=list)

    @field_validator("xen_destroy_left_volumes")
    @classmethod
    def _left_volumes(cls, value: list[str]) -> list[str]:
        for volume in value:
            check_dataset(volume)
        twice = sorted({v for v in value if value.count(v) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} is listed twice: list each volume once")
        return value

    @field_validator("xen_migrate_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else check_address(value)

    @field_validator("xen_migrate_ssh")
    @classmethod
    def _ssh(cls, value: str) -> str:
        return check_transport(value)

    def migration_address(self, host_name: str) -> str:
        """
        How other Dom0s reach this one: ``xen_migrate_address``, else the
        inventory name, which must then be a plain host name (it goes into
        xl's ``sh -c`` line unquoted). ``ValueError`` names the key to set.
        """

        if self.xen_migrate_address is not None:
            return self.xen_migrate_address
        try:
            return check_address(host_name)
        except ValueError:
            raise ValueError(
                f"{host_name}: its inventory name is not a host name ssh can reach for live migration: "
                "set xen_migrate_address to its host name or address",
            ) from None


for _key in GuestsHostSpec.model_fields:
    EXTRA_KEY_MODELS[_key] = GuestsHostSpec


def validate_guests(host_name: str, data: dict[str, Any]) -> GuestsHostSpec:
    keys = {k: v for k, v in xen_keys(data).items() if k in GuestsHostSpec.model_fields}
    try:
        spec = GuestsHostSpec(**keys)
    except ValidationError as error:
        raise InventoryError([describe_error(host_name, e, data, GuestsHostSpec) for e in error.errors()]) from None
    problems = host_guest_problems(host_name, spec.xen_guests) + left_volume_problems(host_name, spec)
    if problems:
        raise InventoryError(problems)
    return spec



def left_volume_problems(host_name: str, spec: GuestsHostSpec) -> list[str]:
    """A volume to destroy is not the disk of a guest declared on the same Dom0."""

    problems = []
    for g_index, guest in enumerate(spec.xen_guests):
        for d_index, disk in enumerate(guest.disks):
            if disk.zvol in spec.xen_destroy_left_volumes:
                problems.append(
                    f"{host_name}: xen_destroy_left_volumes lists {disk.zvol}, the disk of guest {guest.name} "
                    f"declared here (xen_guests[{g_index}].disks[{d_index}].zvol): remove it from the list",
                )
    return problems


def host_guest_problems(host_name: str, guests: list[GuestSpec]) -> list[str]:
    """Within one Dom0: guest names are unique, and no path is used by two guests."""

    problems = []
    seen_names: set[str] = set()
    for guest in guests:
        if guest.name in seen_names:
            problems.append(f"{host_name}: xen_guests declares {guest.name} twice: give each guest its own name")
        seen_names.add(guest.name)
    claims = path_claims(host_name, guests)
    problems += [f"{host_name}: {conflict_message(a, b)}" for a, b in path_conflicts(claims)]
    return problems


@dataclass(frozen=True)
class PathClaim:
    """A path on a Dom0 that one guest uses: a disk (read-write) or its install medium (read-only)."""

    host: str
    guest: str
    key: str  # where it is declared, e.g. xen_guests[0].disks[1].file
    path: str
    read_only: bool
    # An absent guest's disk, about to be destroyed (destroy_disks).
    destroying: bool = False
    # An install medium's declared source (url, sha256): guests that agree on it may share the ISO.
    medium: tuple[str | None, str | None] | None = None

    def describe(self) -> str:
        return f"{self.guest} on {self.host} ({self.key})"


def path_claims(host_name: str, guests: Iterable[GuestSpec]) -> list[PathClaim]:
    """
    Every path the guests of one Dom0 use. An absent guest's disks count only
    with destroy_disks: then they are about to be destroyed, so no other guest
    may use them.
    """

    claims = []
    for index, guest in enumerate(guests):
        if guest.state == "absent" and not guest.destroy_disks:
            continue
        for number, disk in enumerate(guest.disks):
            key = f"xen_guests[{index}].disks[{number}].{disk.kind}"
            claims.append(PathClaim(host_name, guest.name, key, disk.target, read_only=False,
                                    destroying=guest.state == "absent"))
        if guest.cdrom is not None and guest.state != "absent":
            key = f"xen_guests[{index}].cdrom.path"
            medium = (guest.cdrom.url, guest.cdrom.sha256)
            claims.append(PathClaim(host_name, guest.name, key, guest.cdrom.path, read_only=True, medium=medium))
    return claims


def claims_conflict(first: PathClaim, second: PathClaim) -> bool:
    if (first.host, first.guest) == (second.host, second.guest):
        return False  # one guest's own paths: GuestSpec checks those
    if first.path.startswith("/dev/") and second.path.startswith("/dev/"):
        same = devices_overlap(first.path, second.path)
    else:
        same = first.path == second.path
    if not same:
        return False
    # One ISO, attached read-only to guests that declare it alike, is shared safely.
    return not (first.read_only and second.read_only and first.medium == second.medium)


def path_conflicts(claims: list[PathClaim]) -> list[tuple[PathClaim, PathClaim]]:
    """Pairs of claims on one path (or on a device and its partition) by two guests, in declaration order."""

    conflicts = []
    by_path: dict[str, list[PathClaim]] = {}
    devices: list[PathClaim] = []
    for claim in claims:
        if claim.path.startswith("/dev/"):
            earlier = [other for other in devices if claims_conflict(other, claim)]
            devices.append(claim)
        else:
            earlier = [other for other in by_path.get(claim.path, []) if claims_conflict(other, claim)]
            by_path.setdefault(claim.path, []).append(claim)
        if earlier:
            conflicts.append((earlier[0], claim))
    return conflicts


def conflict_message(first: PathClaim, second: PathClaim) -> str:
    if first.destroying or second.destroying:
        absent = first if first.destroying else second
        return (
            f"guest {absent.guest} on {absent.host} is absent with destroy_disks, and its disk {absent.path} is "
            f"also used by {(second if absent is first else first).describe()}: destroying it would destroy "
            "that guest's disk; remove destroy_disks (and delete the old disk by hand if it is not shared)"
        )
    if first.read_only and second.read_only:
        fix = "give both the same url and sha256 to share the ISO read-only, or give each its own cdrom path"
    else:
        fix = "give each guest its own disk (zvol, file or device) and keep install media apart from disks"
    if first.path == second.path:
        same = first.path
    elif first.path.startswith("/dev/zvol/"):
        same = f"{first.path} and {second.path} (one ZFS dataset inside the other)"
    else:
        same = f"{first.path} and {second.path} (a disk and its partition)"
    return (
        f"guests {first.describe()} and {second.describe()} both use {same}: a path belongs to one guest; {fix}"
    )


def fleet_problems_by_host(guests_by_host: Iterable[tuple[str, GuestsHostSpec]]) -> dict[str, list[str]]:
    """
    The fleet-wide rules, each problem under every Dom0 it concerns (prefixed
    with that Dom0's name), so the deploy of each can stop that host alone:
    a guest belongs to one Dom0; a MAC address to one interface; a path (disk
    file, device, zvol, install medium) to one guest, across all Dom0s.
    """

    by_host: dict[str, list[str]] = {}
    for hosts, message in fleet_findings(guests_by_host):
        for name in hosts:
            by_host.setdefault(name, []).append(f"{name}: {message}")
    return by_host


def fleet_findings(guests_by_host: Iterable[tuple[str, GuestsHostSpec]]) -> list[tuple[tuple[str, ...], str]]:
    """Each fleet-wide problem once, in declaration order, with the Dom0s it concerns."""

    findings: list[tuple[tuple[str, ...], str]] = []

    def report(hosts: Iterable[str], message: str) -> None:
        findings.append((tuple(dict.fromkeys(hosts)), message))

    owner_of_name: dict[str, str] = {}
    owner_of_mac: dict[str, tuple[str, str]] = {}
    claims: list[PathClaim] = []
    for host_name, spec in guests_by_host:
        for guest in spec.xen_guests:
            if guest.state == "absent":
                continue
            other = owner_of_name.get(guest.name)
            if other and other != host_name:
                report(
                    (other, host_name),
                    f"guest {guest.name} is declared on both {other} and {host_name}: a guest belongs to one Dom0; "
                    "to move it, remove it from xen_guests of one of them",
                )
            owner_of_name.setdefault(guest.name, host_name)
            for mac in (mac.lower() for mac in vif_macs(guest)):
                where = (host_name, guest.name)
                if mac in owner_of_mac and owner_of_mac[mac] != where:
                    first = owner_of_mac[mac]
                    report(
                        (first[0], host_name),
                        f"MAC {mac} is used by both {first[0]}/{first[1]} and {host_name}/{guest.name}: "
                        "MACs must be unique; set another vifs[].mac, or omit mac for a derived one",
                    )
                owner_of_mac.setdefault(mac, where)
        claims += path_claims(host_name, spec.xen_guests)
    for first, second in path_conflicts(claims):
        if first.host == second.host:
            continue  # within one Dom0: that Dom0's own problem (validate_guests)
        if first.guest == second.guest and not (first.destroying or second.destroying):
            continue  # one guest declared on two Dom0s: reported above, once
        report((first.host, second.host), conflict_message(first, second))
    return findings


def fleet_problems(guests_by_host: Iterable[tuple[str, GuestsHostSpec]]) -> list[str]:
    """Every fleet-wide problem once, without the per-host prefix (see ``fleet_problems_by_host``)."""

    return [message for _, message in fleet_findings(guests_by_host)]
