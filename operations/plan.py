"""
What the guests deploy will do on one Dom0, decided from the fleet's reads
before any operation is called: which guests arrive by live migration, which
leave, which stale configs go, what must stop the host, and what is not ours
and is only reported.

A pure function over the reads (``Fleet`` reads other Dom0s only when a
question needs them), so every rule here is unit-tested without a host:

    from operations.plan import plan_guests
    plan = plan_guests(fleet, host.name, declared, current)
    if plan.problems: ...                   # stop this host, nothing changed
    for guest_name, target in plan.moves: ...

Ownership: a domain or config file is ours when this Dom0 declares the guest,
or when its config file here carries the marker that ``render_xl_cfg`` writes
(``GuestsHost.managed_configs``). A guest of the same name declared on another
Dom0 is not enough: an admin's own domain is never migrated away, and an
admin's own config is never removed, because some other Dom0 declares a guest
that happens to share its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facts.guests import GuestsHost, config_path
from facts.xl import NAMELESS
from spec.guest import GuestSpec

from .migrate import Dom0, Fleet, base_name, stranded_disks, stranded_problem


@dataclass
class GuestsPlan:
    # guest name -> the Dom0 it runs on now, from which it arrives by live migration (or,
    # with move_disks, the Dom0 that sends it and its volumes: it is started here from there)
    arriving: dict[str, str] = field(default_factory=dict)
    # (guest name, the Dom0 that now declares it): running here, ours, leaving by live migration
    moves: list[tuple[str, Dom0]] = field(default_factory=list)
    # (guest name, the Dom0 that now declares it, running here): ours, with move_disks, its zvols
    # local to this Dom0: it leaves with them by replication (operations.zfsmove)
    disk_moves: list[tuple[str, Dom0, bool]] = field(default_factory=list)
    # our config files here of guests that now belong to another Dom0 and no longer run here
    moved_away: list[str] = field(default_factory=list)
    # what stops this host before anything changes
    problems: list[str] = field(default_factory=list)
    # domains and configs that are not ours: reported, left alone
    left_alone: list[str] = field(default_factory=list)


def is_ours(state: GuestsHost, guest_name: str) -> bool:
    """Whether the config file of ``guest_name`` on that Dom0 was written by this project."""

    return guest_name in state.managed_configs


def foreign_domain_problem(guest: GuestSpec, source: Dom0) -> str:
    return (
        f"guest {guest.name}: a domain of that name runs on {source.name} and its config there was not written "
        f"by this project, so it is not moved and no second copy is started here. If it is this guest, declare "
        f"it on {source.name} again and run deploys/guests.py once (its config is then rewritten as ours), then "
        f"move the declaration; if it is another machine, rename this guest"
    )


def plan_guests(fleet: Fleet, here: str, declared: list[GuestSpec], current: GuestsHost) -> GuestsPlan:
    """
    Decide the fleet-level part of converging ``declared`` on Dom0 ``here``
    whose read is ``current``. Other Dom0s are read only when a guest declared
    here is not running here, or a domain or config here belongs elsewhere.
    """

    plan = GuestsPlan()
    declared_here = {guest.name for guest in declared}

    # Guests declared here that run elsewhere arrive by migration, if the copy
    # there is ours; stopped ones can start here only if their disks are here.
    for guest in declared:
        if guest.state == "absent" or current.domain(guest.name) is not None:
            continue
        source = fleet.running_elsewhere(guest.name, here)
        if source is not None:
            if is_ours(source.state(), guest.name):
                plan.arriving[guest.name] = source.name
            else:
                plan.problems.append(foreign_domain_problem(guest, source))
        elif guest.name not in current.config_names:
            origin = fleet.defined_elsewhere(guest.name, here)
            if origin is not None:
                if guest.move_disks and is_ours(origin.state(), guest.name):
                    plan.arriving[guest.name] = origin.name   # stopped there: it comes with its volumes
                    continue
                problem = stranded_problem(guest, current, origin)
                if problem:
                    plan.problems.append(problem)

    # Domains running here that another Dom0 now declares leave for it, if ours.
    running_here = set()
    for domain in current.domains or ():
        if domain.name == "Domain-0" or domain.name != base_name(domain.name):
            continue
        running_here.add(domain.name)
        if domain.name in declared_here:
            continue
        if domain.name == NAMELESS:
            plan.left_alone.append(f"domain {domain.domid} has no name in xenstore (xl lists {NAMELESS}): "
                                   "being destroyed, or a zombie if it stays; left alone")
            continue
        owner = fleet.owner(domain.name)
        if owner is None or owner.name == here:
            plan.left_alone.append(f"guest {domain.name} runs here but is not declared: left alone (unmanaged)")
        elif is_ours(current, domain.name):
            # With move_disks the volumes are local to each Dom0, whatever B may hold under
            # their names (a copy left by an earlier move): never live-migrate onto those.
            if fleet.declared(owner.name, domain.name).move_disks:
                plan.disk_moves.append((domain.name, owner, True))
            else:
                plan.moves.append((domain.name, owner))
        else:
            plan.left_alone.append(
                f"guest {domain.name} runs here and {owner.name} declares a guest of that name, but "
                f"{config_path(domain.name)} here was not written by this project: not migrated (left alone)",
            )

    # Our configs of guests that now belong elsewhere and no longer run here go,
    # unless the guest's disks stayed here (the config says where its data is).
    for name in current.config_names:
        if name in declared_here or name in running_here:
            continue
        owner = fleet.owner(name)
        if owner is None or owner.name == here:
            continue
        if not is_ours(current, name):
            plan.left_alone.append(
                f"{config_path(name)} is for a guest that {owner.name} declares, but this project did not write "
                "it: kept (remove it by hand if it is stale)",
            )
            continue
        guest = fleet.declared(owner.name, name)
        there = owner.state()
        if guest.move_disks and name not in there.config_names and there.domain(name) is None:
            plan.disk_moves.append((name, owner, False))   # stopped here: its volumes go, then its config
        elif not stranded_disks(guest, there, fleet.dom0s[here]):
            plan.moved_away.append(name)
    return plan
