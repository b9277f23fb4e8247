"""Shared pytest fixtures.

`sim_fleet` starts simulated FreeBSD hosts (simhost) behind real sshd:

    def test_something(sim_fleet):
        fleet = sim_fleet(("xen1", "freebsd14"), ("xen2", "amd"))
        data = fleet.host_data("xen1")          # pyinfra connection data
        fleet.write_inventory(tmp_path / "inventory.py", {"xen1": {...}})

Every fleet started by a test is stopped (processes killed, roots removed) at teardown.
"""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(autouse=True)
def _threads_stay_threads():
    """Importing pyinfra_cli runs gevent's monkey.patch_all() in the importing process: from
    then on the simulator's supervisor and every other thread of the test process are
    greenlets, which never run while a test blocks in a call gevent does not patch
    (os.wait4 while the pyinfra CLI runs): a reboot request is then never taken.  Tests
    that need pyinfra_cli import it in a child process (tests/cli_process.py)."""
    from gevent import monkey

    if monkey.is_anything_patched():
        pytest.fail("gevent has monkey-patched the test process (something imported pyinfra_cli); "
                    "import it in a child process with tests.cli_process.run_python", pytrace=False)
    yield


def _simhost_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "simhost needs root (chroot, mknod, sshd ChrootDirectory); run the e2e tests as root"
    for tool in ("/usr/sbin/sshd", "/bin/busybox"):
        if not os.path.exists(tool):
            return f"simhost needs {tool}"
    for tool in ("dash", "ssh-keygen", "chroot"):
        if not shutil.which(tool):
            return f"simhost needs {tool} on PATH"
    return None


@pytest.fixture
def sim_fleet():
    """Factory: sim_fleet((name, variant), ...) -> started simhost.Fleet."""
    reason = _simhost_unavailable()
    if reason:
        pytest.skip(reason)
    from simhost import Fleet
    from simhost.fleet import cleanup_stale

    cleanup_stale()  # fleets of earlier, killed test runs
    fleets = []

    def start(*hosts: tuple[str, str]):
        fleet = Fleet()
        fleets.append(fleet)
        for name, variant in hosts:
            fleet.add(name, variant)
        return fleet.start()

    yield start
    for fleet in fleets:
        fleet.stop()
