"""
inventories/example.py is what a new user copies: it must load as pyinfra
loads it (with its group_data/), and every host must pass the same checks the
deploys run before connecting.
"""

from __future__ import annotations

from pathlib import Path

from spec.inventory import check_fleet
from tests.cli_process import run_python

ROOT = Path(__file__).resolve().parents[2]


class LoadedHost:
    def __init__(self, name: str, data: dict):
        self.name, self.data = name, data


def load() -> list[LoadedHost]:
    """The inventory as pyinfra's CLI loads it (with a State in context), in a child
    process because pyinfra_cli monkey-patches whoever imports it."""
    hosts = run_python(f"""
        import json
        from pyinfra.api import State
        from pyinfra.context import ctx_state
        from pyinfra_cli.inventory import make_inventory
        with ctx_state.use(State()):
            inventory = make_inventory({str(ROOT / "inventories" / "example.py")!r}, cwd={str(ROOT)!r})
        print(json.dumps({{host.name: host.data.dict() for host in inventory}}))
    """)
    return [LoadedHost(name, data) for name, data in hosts.items()]


def test_the_example_inventory_validates():
    inventory = load()
    check = check_fleet((host.name, host.data) for host in inventory)
    assert check.problems == {}
    assert sorted(check.specs) == ["legacy.example.org", "xen1.example.org", "xen2.example.org"]


def test_it_declares_guests_and_uses_group_data():
    inventory = load()
    check = check_fleet((host.name, host.data) for host in inventory)
    guests = {name: [g.name for g in spec.guests.xen_guests] for name, spec in check.specs.items()}
    assert guests["xen1.example.org"] and guests["xen2.example.org"]
    by_name = {host.name: host for host in inventory}
    xen1, xen2, legacy = (by_name[name] for name in ("xen1.example.org", "xen2.example.org", "legacy.example.org"))
    # from group_data/example.py (every host of the file) and group_data/production.py
    assert xen1.data.get("ssh_user") == legacy.data.get("ssh_user") == "root"
    assert xen1.data.get("xen_version") == "4.19" and xen1.data.get("xen_bridge_members") == ["igb0"]
    # a host's own data wins over its group's
    assert xen2.data.get("xen_dom0_mem") == "4G" and xen1.data.get("xen_dom0_mem") == "8192M"
    assert legacy.data.get("xen_version") == "4.7" and legacy.data.get("xen_bridge_members") == ["bge0"]
