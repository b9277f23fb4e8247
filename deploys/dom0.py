"""
Turn each inventory host into a Xen Dom0, idempotently:

    pyinfra inventories/sandbox.py deploys/dom0.py [--dry]

Pre-flight checks run first and stop a host that cannot be a Dom0 before
anything on it changes, as does a reboot that a running guest would not come
back from (see xen_reboot_stops_guests). See the README for the host-data keys.
"""

from facts.dom0 import Dom0State
from operations import dom0
from operations.state import read_state
from operations.steps import Step, run_steps
from pyinfra import host

from deploys.support import host_spec, stop_this_host

spec = host_spec().dom0
current = read_state(host, Dom0State)

problems = dom0.preflight_problems(current, spec)
reboot_needed = bool(dom0.pending_reboot_reasons(current, spec))
if not problems and current.under_xen and not reboot_needed:
    problems = dom0.running_problems(current, spec)
if not problems and reboot_needed and spec.xen_reboot:
    # Said before anything changes: a reboot that would leave a running guest down.
    refusal = dom0.reboot_plan_for(current, spec).refusal
    problems = [refusal] if refusal else []

if problems:
    stop_this_host(problems, "pre-flight")
else:
    run_steps(
        [
            Step(dom0.packages, "Xen packages", spec=spec),
            Step(dom0.wired_memory, "Wired memory limit"),
            Step(dom0.login_class, "login.conf memorylocked"),
            Step(dom0.console, "xc0 console in /etc/ttys"),
            Step(dom0.loader_conf, "Xen in /boot/loader.conf", spec=spec),
            Step(dom0.log_dir, "/var/log/xen"),
            Step(dom0.boot_menu, "Xen boot menu", spec=spec),
            Step(dom0.rc_conf, "xencommons and bridge in rc.conf", spec=spec),
            Step(dom0.xl_conf, "xl.conf defaults", spec=spec),
            Step(dom0.reboot_into_xen, "Reboot into Xen and verify", spec=spec),
        ],
        unchanged="Dom0 matches the host data",
    )
