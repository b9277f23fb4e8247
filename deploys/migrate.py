"""
Live-migrate one guest now, imperatively, with the same checks as the
declarative move:

    pyinfra inventories/X.py deploys/migrate.py --data migrate_guest=web --data migrate_to=xen2

A guest on ZFS volumes local to this Dom0 moves with them (replication, then a
short stop: operations.zfsmove) with ``--data migrate_disks=true``, or when
its declaration says ``"move_disks": True``.

Afterwards, move the guest's entry in ``xen_guests`` to the target Dom0, or the
next ``deploys/guests.py`` run will move it back to where it is declared.
"""

from operations import guests, migrate, zfsmove
from pyinfra import host, inventory, logger
from pyinfra.operations import python

from deploys.support import fleet_check, host_spec, stop_this_host


def tell_to_move_entry(guest_name: str, source: str, target: str) -> None:
    host.log_styled(
        f"now move guest {guest_name}'s entry in xen_guests from {source} to {target} in the "
        "inventory: deploys/guests.py places guests where they are declared",
        fg="yellow",
        log_func=logger.warning,
    )


guest_name = host.data.get("migrate_guest")
target_name = host.data.get("migrate_to")
with_disks = str(host.data.get("migrate_disks", "false")).lower()

if not guest_name or not target_name:
    stop_this_host(["give both --data migrate_guest=<guest> and --data migrate_to=<inventory host>"], "migrate")
elif with_disks not in ("true", "false"):
    stop_this_host([f"migrate_disks={with_disks}: give true or false"], "migrate")
else:
    fleet = migrate.Fleet.from_inventory(inventory, fleet_check())
    target = fleet.dom0s.get(target_name)
    declared = host_spec().guests.xen_guests
    read = guests.GuestsRead.for_guests(declared)
    current = guests.guests_state(read)
    if target is None:
        stop_this_host([f"migrate_to={target_name} is not a host of this inventory"], "migrate")
    elif current.domain(guest_name) is None:
        host.noop(f"guest {guest_name} does not run here")
    elif target_name == host.name:
        host.noop(f"guest {guest_name} already runs on {target_name}")
    else:
        guest = fleet.declared(host.name, guest_name) or fleet.declared(target_name, guest_name)
        disks = guest is not None and (with_disks == "true" or guest.move_disks)
        if guest is None:
            problems = [f"guest {guest_name} is declared on no Dom0 of this inventory: declare it before moving it"]
        elif disks:
            problems = zfsmove.move_problems(host, guest, current, target)
        else:
            problems = migrate.move_problems(host, guest, current, target)
        if problems:
            stop_this_host(problems, "migrate pre-flight")
        else:
            if disks:
                zfsmove.log_move(guest_name, host.name, target_name, running=True)
                zfsmove.move_disks(name=f"{guest_name}: move with its disks to {target_name}", guest=guest,
                                   target=target, running=True,
                                   shutdown_timeout=host_spec().guests.xen_shutdown_timeout)
            else:
                migrate.log_move(guest_name, host.name, target_name)
                migrate.live_migrate(name=f"{guest_name}: migrate to {target_name}", guest_name=guest_name,
                                     target=target)
            if fleet.declared(target_name, guest_name) is None:
                # An operation of its own, after the migration's: pyinfra runs it only if
                # xl migrate succeeded (a failed operation stops the host), never at --dry.
                python.call(
                    name=f"{guest_name}: which inventory entry to move",
                    function=tell_to_move_entry,
                    guest_name=guest_name,
                    source=host.name,
                    target=target_name,
                )
