"""
Validation of a whole inventory at once, so that every problem in every host's
data is reported together, before pyinfra connects to anything.

    specs = validate_inventory([(h.name, h.data.dict()) for h in inventory])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .fleet import GuestsHostSpec, fleet_problems, validate_guests
from .schema import Dom0Spec, InventoryError, validate_dom0


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
    if problems:
        raise InventoryError(problems)
    return HostSpec(dom0, guests)


def validate_inventory(hosts: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, HostSpec]:
    specs: dict[str, HostSpec] = {}
    problems: list[str] = []
    for name, data in hosts:
        try:
            specs[name] = validate_host(name, data)
        except InventoryError as error:
            problems.extend(error.problems)
    problems.extend(fleet_problems((name, spec.guests) for name, spec in specs.items()))
    if problems:
        raise InventoryError(problems)
    return specs
