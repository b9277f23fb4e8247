"""
The fleet at a glance, read-only: one remote command per Dom0, one table for
the whole inventory at the end of the run (on stdout).

    pyinfra -y inventories/X.py deploys/status.py
    pyinfra -y inventories/X.py deploys/status.py --data status_format=json > fleet.json

Per Dom0: FreeBSD release, Xen version, Dom0 memory and vCPUs, free memory and
the memory its running guests are declared with. Per guest: where it is
declared and where it runs, its state, memory, vCPUs, uptime and autostart,
how it differs from its declaration, and how to reach its consoles; domains
declared nowhere are flagged unmanaged. A Dom0 that cannot be read is shown as
unreadable and fails the run (exit status 1); nothing about it is guessed.
"""

from pyinfra import host, inventory, state

from deploys.support import fleet_check, host_spec, stop_this_host
from facts.status import HostStatus, Unreadable
from operations import fleet_report
from operations.state import unproxied
from operations.status import fleet_status, render_json, render_table, ssh_words

FORMATS = {"table": render_table, "json": render_json}


def render(reads: dict) -> str:
    check = fleet_check(all_hosts)
    declared = {h.name: list(check.specs[h.name].guests.xen_guests) if h.name in check.specs else []
                for h in all_hosts}
    undeclared = tuple(h.name for h in all_hosts if h.name not in check.specs)
    ssh = {h.name: ssh_words(h.name, h.data.dict()) for h in all_hosts}
    for h in all_hosts:
        if h.name not in reads and not state.is_host_in_limit(h):
            reads[h.name] = Unreadable("not read: outside --limit")
    return FORMATS[output_format](fleet_status(declared, reads, ssh, undeclared))


all_hosts = unproxied(inventory)
output_format = host.data.get("status_format", "table")
if output_format not in FORMATS:
    stop_this_host([f"status_format={output_format!r}: use status_format=table or status_format=json"], "status")
else:
    report = fleet_report.report_for(state, render)
    host_spec()  # a host with invalid data stops here, and is shown as not read
    read = host.get_fact(HostStatus)
    if read is None or isinstance(read, Unreadable):
        reason = read.reason if read is not None else "the read failed (see above)"
        report.add(host.name, Unreadable(reason))
        stop_this_host([f"cannot read this Dom0's status: {reason}"], "status")
    else:
        report.add(host.name, read)
        host.noop("status read")
