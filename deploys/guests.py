"""
Converge each Dom0's DomU guests on their declarations in ``xen_guests``:

    pyinfra inventories/sandbox.py deploys/guests.py [--dry]

Everything that would make the run fail half-way (a missing bridge or device,
a volume that would have to shrink, not enough free memory) is checked first,
and stops that host before anything on it changes. Guests running on the Dom0
but not declared are left alone and reported.
"""

from facts.guests import GuestsState
from operations import guests
from operations.state import read_state
from pyinfra import host, logger

from deploys.support import host_spec, stop_this_host

spec = host_spec().guests
declared = spec.xen_guests
read = guests.GuestsRead.for_guests(declared)
current = read_state(host, GuestsState, names=read.names, paths=read.paths, media=read.media)

problems = guests.plan_problems(declared, current)
if problems:
    stop_this_host(problems, "guests pre-flight")
else:
    for name in guests.unmanaged_guests(declared, current):
        host.log_styled(f"guest {name} runs here but is not declared: left alone (unmanaged)", log_func=logger.warning)
    for guest in declared:
        if guest.state == "absent":
            guests.remove(name=f"{guest.name}: absent", guest=guest, read=read, shutdown_timeout=spec.xen_shutdown_timeout)
            continue
        guests.disks(name=f"{guest.name}: disks", guest=guest, read=read)
        guests.install_media(name=f"{guest.name}: install medium", guest=guest, read=read)
        guests.config(name=f"{guest.name}: xl config", guest=guest, read=read)
        guests.power(
            name=f"{guest.name}: {guest.state}",
            guest=guest,
            read=read,
            restart_on_change=spec.xen_restart_on_change,
            shutdown_timeout=spec.xen_shutdown_timeout,
        )
    guests.autostart(
        name="Guests autostart at boot",
        guests=declared,
        read=read,
        delay=spec.xen_autostart_delay,
        shutdown_timeout=spec.xen_shutdown_timeout,
    )
