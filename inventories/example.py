"""
An example inventory for a real fleet of FreeBSD Xen Dom0s.

    pyinfra inventories/example.py deploys/dom0.py --dry     # what would change
    pyinfra inventories/example.py deploys/dom0.py           # make them Dom0s
    pyinfra inventories/example.py deploys/guests.py         # converge their guests
    pyinfra -y inventories/example.py deploys/status.py      # the fleet at a glance

Each list below is a pyinfra group, named after its variable. What a whole
group shares lives in group_data/ next to this file, one file per group:

* group_data/example.py applies to every host of this file (pyinfra puts
  them in a group named after it): the SSH user;
* group_data/production.py applies to the production Dom0s: their Xen
  version, Dom0 size, bridge and migration transport.

A host's own data (below) wins over its groups' data. Every ``xen_*`` key is
documented in the README; the whole inventory is checked before pyinfra
connects to any host (config.py).
"""

# Two Dom0s that share storage (/vm/shared is an NFS mount on both), so a
# running guest can live-migrate between them: move its entry from one
# xen_guests to the other and run deploys/guests.py.
production = [
    (
        "xen1.example.org",
        {
            "xen_guests": [
                {
                    # The Handbook's guest, being installed: a local zvol, booting
                    # the install ISO (fetched and checked by the deploy); install
                    # it over VNC through an SSH tunnel (deploys/status.py prints
                    # the ssh -L command), then set "installed": True.
                    "name": "freebsd",
                    "memory": 1024,
                    "maxmem": 2048,  # memory can then be changed live, up to 2 GiB
                    "vcpus": 2,
                    "disks": [{"zvol": "zroot/xen/freebsd-disk0", "size": "20G"}],
                    "cdrom": {"path": "/var/lib/xen/iso/FreeBSD-14.3-RELEASE-amd64-bootonly.iso"},
                    "vifs": [{"bridge": "bridge0"}],
                    "vnc": {"listen": "127.0.0.1"},
                    "serial": "pty",
                    "usbdevice": "tablet",
                },
                {
                    # A web server on shared storage: it can live-migrate to xen2.
                    "name": "web",
                    "memory": 2048,
                    "vcpus": 2,
                    "disks": [{"file": "/vm/shared/web.img", "size": "40G"}],
                    "vifs": [{"bridge": "bridge0"}],
                    "installed": True,
                },
            ],
        },
    ),
    (
        "xen2.example.org",
        {
            "xen_dom0_mem": "4G",  # more room for guests than the group's 8192M
            "xen_guests": [
                {
                    "name": "db",
                    "memory": 4096,
                    "vcpus": 4,
                    "type": "pvh",
                    "disks": [{"file": "/vm/shared/db.img", "size": "100G"}],
                    "vifs": [{"bridge": "bridge0", "mac": "00:16:3e:12:34:56"}],
                    "installed": True,
                    "extra": {"on_crash": "restart"},
                },
                {
                    # Kept for its disk, started only by hand: not at Dom0 boot.
                    "name": "old-build",
                    "memory": 1024,
                    "vcpus": 1,
                    "disks": [{"zvol": "zroot/xen/old-build0", "size": "30G"}],
                    "installed": True,
                    "state": "stopped",
                    "autostart": False,
                },
            ],
        },
    ),
]

# The Handbook's own era: FreeBSD 11 with Xen 4.7, its own settings, no guests declared yet.
legacy = [
    (
        "legacy.example.org",
        {
            "xen_version": "4.7",  # FreeBSD 11.x only
            "xen_dom0_mem": "2048M",
            "xen_dom0_max_vcpus": 2,
            "xen_console": "vga",
            "xen_serial": "",
            "xen_bridge_members": ["bge0"],
            "xen_bridge_style": "autobridge",
            "xen_bridge_ip": "inet 192.0.2.30/24",
            # Apply the configuration now, reboot in the next maintenance window.
            "xen_reboot": False,
        },
    ),
]
