"""
A simulated FreeBSD host made a Xen Dom0 by hand, as deploys/dom0.py leaves one,
for the simulator's own tests (which drive xl, zfs and rc directly, not the
product).

    with simulated_dom0() as fleet:
        host = fleet.hosts["xen1"]
        sh(host, "xl list")
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest

XEN_LOADER = 'xen_kernel="/boot/xen"\nxen_cmdline="dom0_mem=4096M dom0_max_vcpus=2 dom0=pvh"\n'


def sh(host, command: str, rc: int | None = 0, timeout: float = 60):
    """Run ``command`` on the host; with ``rc``, assert its exit status (showing its output if not)."""

    res = host.run(command, timeout=timeout)
    if rc is not None:
        assert res.returncode == rc, f"{command!r}: rc {res.returncode}\n{res.stdout}{res.stderr}"
    return res


def make_xen_dom0(host, packages: str = "xen-kernel xen-tools") -> None:
    """A Dom0 as deploys/dom0.py leaves it: Xen, xencommons, bridge0 on em0, wired memory (takes a reboot)."""

    host.bootstrap_pkg()
    res = host.run(f"pkg install -y {packages}")
    assert res.returncode == 0, res.stderr
    host.write("/boot/loader.conf", host.read("/boot/loader.conf") + XEN_LOADER)
    host.write("/etc/rc.conf", host.read("/etc/rc.conf") + 'xencommons_enable="YES"\n'
               'cloned_interfaces="bridge0"\nifconfig_bridge0="addm em0 up"\n')
    host.write("/etc/login.conf", host.read("/etc/login.conf").replace(":memorylocked=64K:", ":memorylocked=unlimited:"))
    host.write("/etc/sysctl.conf", "vm.max_user_wired=-1\n")
    host.path("/var/log/xen").mkdir(mode=0o755, exist_ok=True)  # the Handbook's step: xl's daemons log there
    assert host.run("cap_mkdb /etc/login.conf").returncode == 0


@contextmanager
def simulated_hosts(*hosts: tuple[str, str], before_start=None):
    """A started fleet of these (name, variant) hosts, stopped afterwards; skips without root."""

    if os.geteuid() != 0:
        pytest.skip("simhost needs root")
    from simhost import Fleet
    from simhost.fleet import cleanup_stale

    cleanup_stale()
    fleet = Fleet()
    try:
        for name, variant in hosts:
            fleet.add(name, variant)
        if before_start:
            before_start(fleet)
        fleet.start()
        yield fleet
    finally:
        fleet.stop()


@contextmanager
def simulated_dom0(name: str = "xen1", variant: str = "freebsd14", before_start=None):
    """One simulated host rebooted into Xen as a Dom0 (see ``make_xen_dom0``)."""

    with simulated_hosts((name, variant), before_start=before_start) as fleet:
        host = fleet.hosts[name]
        make_xen_dom0(host)
        fleet.power_cycle(name)
        assert host.sim_state()["kernel"] == "xen"
        yield fleet
