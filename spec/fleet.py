"""
The guests' side of the host data (``xen_guests`` and the host-wide guest
settings), and the checks that span the whole fleet: a guest belongs to one
Dom0, and MAC addresses are unique across every Dom0.

    specs = validate_guests("xen1", host.data.dict())
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .guest import GuestSpec
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
    # How other Dom0s reach this one for live migration (default: its inventory name).
    xen_migrate_address: str | None = None
    # xl migrate's transport (-s): the command that reaches the target, e.g. "ssh -p 2222";
    # spec.transport builds what xl and the pre-flight probe run from it.
    xen_migrate_ssh: str = "ssh"

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
    problems = host_guest_problems(host_name, spec.xen_guests)
    if problems:
        raise InventoryError(problems)
    return spec



def host_guest_problems(host_name: str, guests: list[GuestSpec]) -> list[str]:
    """Within one Dom0: guest names, disk volumes and disk files are unique."""

    problems = []
    seen_names: set[str] = set()
    seen_disks: dict[str, str] = {}
    for guest in guests:
        if guest.name in seen_names:
            problems.append(f"{host_name}: xen_guests declares {guest.name} twice: give each guest its own name")
        seen_names.add(guest.name)
        for disk in guest.disks:
            target = disk.target
            if target in seen_disks and seen_disks[target] != guest.name:
                problems.append(
                    f"{host_name}: guests {seen_disks[target]} and {guest.name} both use the disk {target}",
                )
            seen_disks[target] = guest.name
    return problems


def fleet_problems(guests_by_host: Iterable[tuple[str, GuestsHostSpec]]) -> list[str]:
    """Across Dom0s: one owner per guest name, one owner per MAC address."""

    problems = []
    owner_of_name: dict[str, str] = {}
    owner_of_mac: dict[str, str] = {}
    for host_name, spec in guests_by_host:
        for guest in spec.xen_guests:
            if guest.state == "absent":
                continue
            other = owner_of_name.get(guest.name)
            if other and other != host_name:
                problems.append(
                    f"guest {guest.name} is declared on both {other} and {host_name}: a guest belongs to one Dom0; "
                    "to move it, remove it from one of them",
                )
            owner_of_name.setdefault(guest.name, host_name)
            for mac in (mac.lower() for mac in vif_macs(guest)):
                where = f"{host_name}/{guest.name}"
                if mac in owner_of_mac and owner_of_mac[mac] != where:
                    problems.append(f"MAC {mac} is used by both {owner_of_mac[mac]} and {where}: MACs must be unique")
                owner_of_mac.setdefault(mac, where)
    return problems
