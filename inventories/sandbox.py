"""
The built-in sandbox: simulated FreeBSD Dom0s on this machine (see simhost/),
started by ``./run sandbox`` (or ``python -m simhost up --dir .sandbox ...``).

    ./run sandbox
    pyinfra inventories/sandbox.py deploys/dom0.py
"""

import json
from pathlib import Path

SANDBOX = Path(__file__).resolve().parent.parent / ".sandbox"
CONNECTIONS = SANDBOX / "inventory-connection.json"

if not CONNECTIONS.exists():
    raise SystemExit(f"the sandbox is not running ({CONNECTIONS} is missing): start it with ./run sandbox")

connections = json.loads(CONNECTIONS.read_text())

# What each simulated host should become: the handbook's Dom0, on the
# simulated host's em0, with a little less memory than the default.
host_data = {
    "xen1": {
        "xen_dom0_mem": "4096M",
        "xen_dom0_max_vcpus": 2,
        "xen_bridge_members": ["em0"],
        # The handbook's example guest, already installed (the sandbox has no
        # download mirror for an install ISO): a 20G zvol, bridge0, VNC, serial.
        "xen_guests": [
            {
                "name": "freebsd",
                "memory": 1024,
                "maxmem": 2048,
                "vcpus": 2,
                "maxvcpus": 4,
                "disks": [{"zvol": "zroot/xen/freebsd-disk0", "size": "20G"}],
                "vifs": [{"bridge": "bridge0"}],
                "vnc": {"listen": "127.0.0.1"},
                "serial": "pty",
                "usbdevice": "tablet",
                "installed": True,
            },
        ],
    },
    "xen2": {
        "xen_version": "4.11",
        "xen_dom0_mem": "2048M",
        "xen_dom0_max_vcpus": 2,
        "xen_bridge_members": ["em0"],
        "xen_bridge_style": "autobridge",
    },
}

dom0s = [(name, {**connections[name], **host_data.get(name, {})}) for name in sorted(connections)]
