"""
What every deploy script does first: validate this host's data, the
fleet-wide rules included, and stop this host (only this one) with plain
messages when it cannot go on.

The deploys check the whole inventory themselves (once per run) rather than
rely on config.py, which pyinfra loads only from the working directory and
not at all with ``--config`` elsewhere or through its API:

    from deploys.support import host_spec
    spec = host_spec().dom0      # a host with bad data ends here, alone
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from pyinfra import host, inventory, logger, state

from operations.state import HostStopped, unproxied
from spec.inventory import FleetCheck, HostSpec, check_fleet

# The fleet check of each inventory in this process (pyinfra runs one; tests may run several).
_checks: "WeakKeyDictionary[Any, FleetCheck]" = WeakKeyDictionary()


def fleet_check(of_inventory: Any = None) -> FleetCheck:
    """The whole inventory's check, computed once per inventory."""

    real = unproxied(of_inventory if of_inventory is not None else inventory)
    check = _checks.get(real)
    if check is None:
        check = _checks[real] = check_fleet((h.name, h.data.dict()) for h in real)
    return check


def host_spec() -> HostSpec:
    """
    This host's validated data. When it (or a fleet-wide rule that concerns it)
    has problems, they are logged, this host fails, and its deploy file ends
    here: ``HostStopped`` is a ``GreenletExit``, which ends only this host's
    greenlet (pyinfra loads a deploy file for each host in its own greenlet and
    stops the whole run only on an ``Exception``). Nothing was changed on it.
    """

    check = fleet_check()
    problems = check.problems.get(host.name)
    if problems:
        stop_this_host(problems, "host data")
        raise HostStopped(f"{host.name}: invalid host data")
    return check.specs[host.name]


def stop_this_host(problems: list[str], stage: str) -> None:
    """Log each problem, then mark the host failed: no operation runs on it."""

    for problem in problems:
        host.log_styled(f"{stage}: {problem}", fg="red", log_func=logger.error)
    host.log_styled(f"{stage} failed: nothing was changed on this host", fg="red", log_func=logger.error)
    state.fail_hosts({host._get_module()})
