"""
Data for the ``production`` group of inventories/example.py: the Dom0s that
share storage and migrate guests between them. A host's own data wins.
"""

xen_version = "4.19"
xen_dom0_mem = "8192M"
xen_dom0_max_vcpus = 4
xen_bridge_members = ["igb0"]
xen_bridge_ip = "SYNCDHCP"
# xl migrate reaches the other Dom0 as root with this transport (its key must be accepted there).
xen_migrate_ssh = "ssh"
