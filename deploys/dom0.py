"""
Turn each inventory host into a Xen Dom0, idempotently:

    pyinfra inventories/sandbox.py deploys/dom0.py [--dry]

Pre-flight checks run first and stop a host that cannot be a Dom0 before
anything on it changes. See the README for the host-data keys.
"""

from facts.dom0 import Dom0State
from operations import dom0
from operations.state import read_state
from pyinfra import host

from deploys.support import host_spec, stop_this_host

spec = host_spec().dom0
current = read_state(host, Dom0State)

problems = dom0.preflight_problems(current, spec)
if not problems and current.under_xen and not dom0.pending_reboot_reasons(current, spec):
    problems = dom0.running_problems(current, spec)

if problems:
    stop_this_host(problems, "pre-flight")
else:
    dom0.packages(name="Xen packages", spec=spec)
    dom0.wired_memory(name="Wired memory limit")
    dom0.login_class(name="login.conf memorylocked")
    dom0.console(name="xc0 console in /etc/ttys")
    dom0.loader_conf(name="Xen in /boot/loader.conf", spec=spec)
    dom0.log_dir(name="/var/log/xen")
    dom0.boot_menu(name="Xen boot menu", spec=spec)
    dom0.rc_conf(name="xencommons and bridge in rc.conf", spec=spec)
    dom0.xl_conf(name="xl.conf defaults", spec=spec)
    dom0.reboot_into_xen(name="Reboot into Xen and verify", spec=spec)
