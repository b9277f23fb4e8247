"""
The two Dom0s the scenario runs on: the real Xen in a QEMU VM, and simhost's
simulated FreeBSD Dom0 (set up as tests/e2e/test_simhost_guests.py does).
"""

from __future__ import annotations

import shlex
import time
from types import SimpleNamespace

from .vm import RealXenVM, Result, VMError


# Each file under a "== PATH" line (ls -r: xl-NAME.log.1, rotated at the next creation, before xl-NAME.log).
XL_LOGS = ("for f in $(ls -r /var/log/xen/xl-*.log* 2>/dev/null); do echo \"== $f\"; cat \"$f\"; done")


class RealTarget:
    label = "real Xen 4.17 (QEMU TCG, Debian Dom0)"

    def __init__(self, vm: RealXenVM):
        self.vm = vm

    def run(self, command: str, timeout: float = 300) -> Result:
        return self.vm.run(command, timeout=timeout)

    def put(self, path: str, text: str) -> None:
        self.vm.put(path, text)

    def prepare(self, guests) -> None:
        self.vm.run("mkdir -p /vm /usr/local/etc/xen")

    def xl_logs(self) -> str:
        """
        The logs xl's per-domain daemons keep (xl-NAME.log, with the shutdown
        reason of each domain), each path prefixed with the VM's name ("== xen1:/var/log/...").
        """

        if not (self.vm.sock and self.vm.proc and self.vm.proc.poll() is None):
            return f"(xl's logs unreadable: {self.vm.name} is not running)\n"
        try:
            return self.vm.run(XL_LOGS).stdout.replace("== /", f"== {self.vm.name}:/")
        except VMError as error:  # the run's own failure, if any, is the one to show
            return f"(xl's logs unreadable: {error})\n"

    def wait_guest_up(self, name: str, timeout: float = 300) -> None:
        """Linux writes control/feature-poweroff once it listens for shutdown requests (drivers/xen/manage.c)."""

        q = shlex.quote(name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            res = self.vm.run(f"xenstore-read /local/domain/$(xl domid {q})/control/feature-poweroff")
            if res.rc == 0 and res.stdout.strip() == "1":
                time.sleep(2)  # its init (which runs /sbin/poweroff) is up a moment later
                return
            time.sleep(3)
        print(f"realxen: guest {name} did not come up within {timeout:.0f}s", flush=True)


class SimTarget:
    label = "simhost (simulated FreeBSD 14 Dom0, xen-tools 4.19.1)"

    def __init__(self, host, fleet):
        self.host = host
        self.fleet = fleet

    def run(self, command: str, timeout: float = 300) -> Result:
        res = self.host.run(command, timeout=timeout)
        return Result(res.returncode, res.stdout, res.stderr)

    def put(self, path: str, text: str) -> None:
        self.host.write(path, text)

    def prepare(self, guests) -> None:
        self.host.run("mkdir -p /vm /root/guest /usr/local/etc/xen")
        self.host.write("/root/guest/vmlinuz", "Linux kernel (stands in for Debian's vmlinuz)\n")
        self.host.write("/root/guest/initrd.gz", "initramfs (stands in for image.py's guest.cpio.gz)\n")
        # The real guest ignores the request because its kernel command line says so (image.py).
        self.fleet.guest_behaviour(None, "rxstubborn", "unresponsive")

    def wait_guest_up(self, name: str, timeout: float = 300) -> None:
        return None


def start_sim_fleet(names: tuple[str, ...] = ("xen1",)):
    """Simulated Dom0s as deploys/dom0.py leaves them (tests/e2e/test_simhost_guests.py's dom0 fixture)."""

    from simhost import Fleet
    from simhost.fleet import cleanup_stale
    from tests.simdom0 import make_xen_dom0

    cleanup_stale()
    fleet = Fleet()
    try:
        for name in names:
            fleet.add(name, "freebsd14")
        fleet.start()
        for name in names:
            make_xen_dom0(fleet.hosts[name])
            fleet.power_cycle(name)
            if fleet.hosts[name].sim_state()["kernel"] != "xen":
                raise RuntimeError(f"the simulated Dom0 {name} did not boot Xen")
    except BaseException:
        fleet.stop()
        raise
    return SimpleNamespace(fleet=fleet, host=fleet.hosts[names[0]])
