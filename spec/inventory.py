"""
Validation of a whole inventory at once: each host's own data, and the rules
that span the fleet (a guest belongs to one Dom0; MACs and paths to one guest).

    check = check_fleet((h.name, h.data.dict()) for h in inventory)
    check.problems.get("xen1")      # that host's problems, fleet-wide ones included
    check.specs["xen2"]             # a host whose data is valid

``check_fleet`` attributes every problem to the hosts it concerns, so a
deploy can stop those hosts alone; ``validate_inventory`` raises all of them
at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .fleet import GuestsHostSpec, fleet_problems_by_host, validate_guests
from .guest import GuestSpec
from .schema import Dom0Spec, InventoryError, validate_dom0
from .versions import removed_xl_settings
from .xlcfg import type_line


@dataclass(frozen=True)
class HostSpec:
    dom0: Dom0Spec
    guests: GuestsHostSpec


def validate_host(name: str, data: dict[str, Any]) -> HostSpec:
    problems: list[str] = []
    dom0 = guests = None
    try:
        dom0 = validate_dom0(name, data)
    except InventoryError as error:
        problems.extend(error.problems)
    try:
        guests = validate_guests(name, data)
    except InventoryError as error:
        problems.extend(error.problems)
    if not problems:
        problems = declared_xen_problems(name, dom0, guests)
    if problems:
        raise InventoryError(problems)
    return HostSpec(dom0, guests)


def declared_xen_problems(name: str, dom0: Dom0Spec, guests: GuestsHostSpec) -> list[str]:
    """
    With ``xen_version`` declared, what its xl would refuse in a guest is found
    before connecting (a guest type it cannot build, an xl.cfg setting it
    removed); without it the guests pre-flight checks the Xen the host runs.
    """

    version = dom0.release.requested
    if version is None:
        return []
    xen = tuple(int(part) for part in version.split(".")[:2])
    problems = []
    for index, guest in enumerate(guests.xen_guests):
        if guest.state == "absent":
            continue
        try:
            type_line(guest, xen)
        except ValueError as refused:
            problems.append(f"{name}: xen_guests[{index}]: {refused} (xen_version is {version})")
        for removed in removed_xl_settings(guest.extra, xen):
            problems.append(f"{name}: xen_guests[{index}] ({guest.name}): extra {removed} (xen_version is {version})")
    return problems


@dataclass(frozen=True)
class FleetCheck:
    # hosts whose own data and fleet-wide rules are all fine
    specs: dict[str, HostSpec]
    # host -> every problem that concerns it (sentences that start with its name)
    problems: dict[str, list[str]]

    def all_problems(self) -> list[str]:
        return [problem for problems in self.problems.values() for problem in problems]


def check_fleet(hosts: Iterable[tuple[str, dict[str, Any]]]) -> FleetCheck:
    """
    Every host's data and the fleet-wide rules. The valid guests of a host
    whose data has problems still count for the fleet-wide rules: whatever
    that host runs now, no other host may take its guests' names, MACs or paths.
    """

    specs: dict[str, HostSpec] = {}
    problems: dict[str, list[str]] = {}
    guests_by_host: list[tuple[str, GuestsHostSpec]] = []
    for name, data in hosts:
        try:
            spec = validate_host(name, data)
        except InventoryError as error:
            problems[name] = list(error.problems)
            guests_by_host.append((name, _valid_guests(data)))
        else:
            specs[name] = spec
            guests_by_host.append((name, spec.guests))
    for name, found in fleet_problems_by_host(guests_by_host).items():
        problems.setdefault(name, []).extend(found)
    return FleetCheck({name: spec for name, spec in specs.items() if name not in problems}, problems)


def _valid_guests(data: dict[str, Any]) -> GuestsHostSpec:
    guests = []
    declared = data.get("xen_guests")
    for item in declared if isinstance(declared, list) else []:
        try:
            guests.append(GuestSpec.model_validate(item))
        except (ValidationError, TypeError, ValueError):
            continue
    return GuestsHostSpec.model_construct(xen_guests=guests)


def validate_inventory(hosts: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, HostSpec]:
    """Every host's spec; ``InventoryError`` with every problem of every host otherwise."""

    check = check_fleet(hosts)
    if check.problems:
        raise InventoryError(check.all_problems())
    return check.specs
