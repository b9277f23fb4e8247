"""
Converge each Dom0's DomU guests on their declarations in ``xen_guests``:

    pyinfra inventories/sandbox.py deploys/guests.py [--dry]

A guest belongs to the Dom0 that declares it: move a running guest's
declaration to another Dom0 of the inventory and this deploy live-migrates it
there. Everything that would make the run fail half-way (a missing bridge or
device, a volume that would have to shrink, not enough free memory, a
migration target without the guest's storage) is checked first and stops that
host before anything on it changes. Guests running here but declared nowhere
are left alone and reported.
"""

from operations import guests, leftovers, migrate, snapshots, zfsmove
from operations.plan import plan_guests
from operations.steps import Step, run_steps
from pyinfra import host, inventory, logger

from deploys.support import fleet_check, host_spec, stop_this_host

spec = host_spec().guests
declared = spec.xen_guests
read = guests.GuestsRead.for_guests(declared, spec.xen_destroy_left_volumes)
current = guests.guests_state(read)
fleet = migrate.Fleet.from_inventory(inventory, fleet_check())
plan = plan_guests(fleet, host.name, declared, current)
arriving = plan.arriving

problems = plan.problems + guests.plan_problems(declared, current, frozenset(arriving))
for guest_name, target in plan.moves:
    problems += migrate.move_problems(host, fleet.declared(target.name, guest_name), current, target)
for guest_name, target, _running in plan.disk_moves:
    problems += zfsmove.move_problems(host, fleet.declared(target.name, guest_name), current, target)
# volumes earlier moves left here, which the host data says to destroy
left = leftovers.left_volumes(host, spec.xen_destroy_left_volumes, current, fleet, frozenset(
    volume for guest_name, target, _running in plan.disk_moves
    for volume in zfsmove.zvols(fleet.declared(target.name, guest_name))))
problems += [verdict.reason for verdict in left if verdict.action == leftovers.REFUSED]

if problems:
    stop_this_host(problems, "guests pre-flight")
else:
    for message in plan.left_alone:
        host.log_styled(message, log_func=logger.warning)
    for guest_name, target in plan.moves:
        migrate.log_move(guest_name, host.name, target.name)
        migrate.live_migrate(name=f"{guest_name}: migrate to {target.name}", guest_name=guest_name, target=target)
    for guest_name, target, running in plan.disk_moves:
        zfsmove.log_move(guest_name, host.name, target.name, running)
        zfsmove.move_disks(
            name=f"{guest_name}: move with its disks to {target.name}",
            guest=fleet.declared(target.name, guest_name),
            target=target,
            running=running,
            shutdown_timeout=spec.xen_shutdown_timeout,
        )
    if plan.moves or plan.disk_moves or arriving:
        # Called from this one line by every Dom0 that sends or receives a guest:
        # see migrate.migrations_finished for why.
        migrate.migrations_finished(name="Migrations between Dom0s finished")
    steps = []
    steps.append(Step(migrate.forget_moved_configs, "Configs of guests that moved away", names=plan.moved_away))
    for guest in declared:
        # before the steps that may stop its OS (remove, power): snapshots of its zvols
        safety = Step(snapshots.safety_snapshots, f"{guest.name}: safety snapshots", guest=guest, read=read,
                      restart_on_change=spec.xen_restart_on_change, keep=spec.xen_snapshot_keep)
        if guest.state == "absent":
            steps.append(safety)
            steps.append(Step(guests.remove, f"{guest.name}: absent", guest=guest, read=read,
                              shutdown_timeout=spec.xen_shutdown_timeout))
            continue
        source = arriving.get(guest.name)
        steps += [
            Step(guests.disks, f"{guest.name}: disks", guest=guest, read=read, arriving_from=source),
            Step(guests.install_media, f"{guest.name}: install medium", guest=guest, read=read),
            Step(guests.config, f"{guest.name}: xl config", guest=guest, read=read, arriving_from=source),
            safety,
            Step(
                guests.power,
                f"{guest.name}: {guest.state}",
                guest=guest,
                read=read,
                restart_on_change=spec.xen_restart_on_change,
                shutdown_timeout=spec.xen_shutdown_timeout,
                arriving_from=source,
            ),
        ]
    if left:
        steps.append(Step(leftovers.destroy_left_volumes, "Volumes left here by moves", verdicts=left))
    steps.append(Step(
        guests.autostart,
        "Guests autostart at boot",
        guests=declared,
        read=read,
        delay=spec.xen_autostart_delay,
        shutdown_timeout=spec.xen_shutdown_timeout,
        arriving=arriving,
    ))
    run_steps(steps, unchanged="Guests match their declarations")
