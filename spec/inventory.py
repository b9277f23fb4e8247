"""
Validation of a whole inventory at once, so that every problem in every host's
data is reported together, before pyinfra connects to anything.

    specs = validate_inventory([(h.name, h.data.dict()) for h in inventory])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .schema import Dom0Spec, InventoryError, validate_dom0


def validate_inventory(hosts: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, Dom0Spec]:
    specs: dict[str, Dom0Spec] = {}
    problems: list[str] = []
    for name, data in hosts:
        try:
            specs[name] = validate_dom0(name, data)
        except InventoryError as error:
            problems.extend(error.problems)
    if problems:
        raise InventoryError(problems)
    return specs
