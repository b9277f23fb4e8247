"""
Simulated Dom0s made by deploys/dom0.py, for the e2e tests that move guests
between them (tests/e2e/test_migration.py, test_zfs_moves.py, test_fleet_status.py).

    fleet = yield from dom0_fleet("migrate", {"xen1": DOM0, "xen2": DOM0}, tmp_path_factory, shared="/shared")
    place(fleet, {"xen2": [guest]})          # rewrites the inventory: guests per Dom0
    where(fleet, "web")                      # {"xen2": <its domain's simulated state>}
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

from tests.e2e.deploy import PYINFRA, ROOT, Run, pyinfra


def dom0_fleet(label: str, dom0s: dict[str, dict], tmp_path_factory, shared: str | None = None):
    """A fixture's body: FreeBSD 14 hosts with the host data ``dom0s``, made Dom0s; stopped afterwards.
    The fleet carries its ``inventory`` path and ``dom0s`` data (see ``place``)."""

    from simhost.fleet import Fleet

    fleet = Fleet(f"/var/lib/freebsd-xen-sim/{label}-{uuid.uuid4().hex[:8]}")
    for name in dom0s:
        fleet.add(name, "freebsd14")
    if shared:
        fleet.share_storage(shared)
    fleet.start()
    inventory = tmp_path_factory.mktemp("inventory") / "inventory.py"
    fleet.write_inventory(inventory, dom0s)
    run = pyinfra(inventory, "deploys/dom0.py")
    assert run.returncode == 0, run.output[-3000:]
    fleet.inventory, fleet.dom0s = inventory, dom0s
    yield fleet
    fleet.stop()


def place(fleet, placement: dict[str, list], extra: dict[str, dict] | None = None):
    """Rewrite the fleet's inventory: each Dom0's data, ``extra`` host data, and the guests ``placement`` gives it."""

    data = {name: {**dom0, **(extra or {}).get(name, {}), "xen_guests": placement.get(name, [])}
            for name, dom0 in fleet.dom0s.items()}
    fleet.write_inventory(fleet.inventory, data)
    return fleet.inventory


def where(fleet, guest="web") -> dict[str, dict]:
    """The Dom0s on which ``guest`` has a domain, with its simulated state."""

    return {name: host.sim_state()["domains"][guest] for name, host in fleet.hosts.items()
            if guest in host.sim_state()["domains"]}


def live_macs(host, guest="web") -> list[str]:
    [domain] = json.loads(host.run(f"xl list -l {guest}").stdout)
    return [nic["mac"] for nic in domain["config"]["nics"]]


def cut_mid_migration(fleet, inventory, *args: str, guest="web", target="xen2", seconds=4) -> Run:
    """
    Run ``pyinfra -y INVENTORY ARGS...`` while every migration takes ``seconds``;
    once ``target`` builds ``<guest>--incoming`` (xl's name while the memory
    moves), cut its sshd. Returns the run.
    """

    fleet.set_migrate_seconds(seconds)
    try:
        deploy = subprocess.Popen([PYINFRA, "-y", str(inventory), *args], cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        incoming = f"{guest}--incoming"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and incoming not in fleet.hosts[target].sim_state()["domains"]:
            time.sleep(0.1)
        assert incoming in fleet.hosts[target].sim_state()["domains"], "the migration never started"
        fleet.cut_ssh(target)
        output, _ = deploy.communicate(timeout=300)
    finally:
        fleet.set_migrate_seconds(0)
    return Run(deploy.returncode, output)
