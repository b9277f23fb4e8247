"""
An example inventory for a real fleet of FreeBSD Xen Dom0s.

    pyinfra inventories/example.py deploys/dom0.py --dry
    pyinfra inventories/example.py deploys/dom0.py

Host data can also live in group_data/ files (pyinfra's usual way); every
``xen_*`` key is documented in the README.
"""

dom0s = [
    (
        "xen1.example.org",
        {
            "ssh_user": "root",
            "xen_version": "4.19",
            "xen_dom0_mem": "8192M",
            "xen_dom0_max_vcpus": 4,
            "xen_bridge_members": ["igb0"],
            "xen_bridge_ip": "SYNCDHCP",
        },
    ),
    (
        "xen2.example.org",
        {
            "ssh_user": "root",
            "xen_dom0_mem": "4G",
            "xen_dom0_max_vcpus": 2,
            "xen_console": "vga",
            "xen_serial": "",
            "xen_bridge_members": ["em0", "em1"],
            "xen_bridge_ip": "inet 192.0.2.20/24",
            # Apply the configuration now, reboot in the next maintenance window.
            "xen_reboot": False,
        },
    ),
    (
        "legacy.example.org",
        {
            "ssh_user": "root",
            "xen_version": "4.7",  # FreeBSD 11.x only
            "xen_dom0_mem": "2048M",
            "xen_bridge_members": ["bge0"],
            "xen_bridge_style": "autobridge",
        },
    ),
]
