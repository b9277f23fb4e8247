"""
The read and write layer end to end, against files in the state real admins
leave them: no final newline, CRLF, a directory where a file is expected, a
file changed between the read and the write, two deploys in one run. Every line
the admin wrote survives, or the host is refused with a message naming the file.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest

from tests.e2e.deploy import ROOT, pyinfra

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the simulated hosts are chroots served by sshd: needs root"),
]

DOM0 = {"xen_bridge_members": ["em0"]}
ADMIN_FILES = ["/boot/loader.conf", "/etc/rc.conf", "/etc/login.conf", "/etc/ttys"]


@pytest.fixture
def fleet():
    from simhost.fleet import Fleet

    fleet = Fleet(f"/var/lib/freebsd-xen-sim/safety-{uuid.uuid4().hex[:8]}")
    yield fleet
    fleet.stop()


def start(fleet, *names: str, variant: str = "freebsd14"):
    for name in names:
        fleet.add(name, variant)
    fleet.start()
    return [fleet.hosts[name] for name in names]


# Lines the Dom0 deploy changes on purpose (a bridge member is brought up without an address,
# and login.conf's default class gets memorylocked=unlimited).
OURS = ("ifconfig_em0=", "\t:memorylocked=64K:")


def admin_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith(OURS)]


def read_bytes(host, path: str) -> bytes:
    return host.path(path).read_bytes()


@pytest.mark.parametrize("paths", [ADMIN_FILES[:2], ADMIN_FILES], ids=["boot-files", "all"])
def test_files_without_a_final_newline_keep_every_admin_line(fleet, tmp_path, paths):
    """
    Was: a last line without a newline glued the read's end marker to it, the
    file read as absent, and loader.conf/rc.conf were replaced with our keys only
    (no zfs_load, hostname, sshd), login.conf and ttys refused as "missing".
    """

    (xen1,) = start(fleet, "xen1")
    originals = {}
    for path in paths:
        text = xen1.read(path).rstrip("\n")
        if path == "/etc/rc.conf":
            text += '\nkeymap="fr.acc"'
        xen1.write(path, text)
        originals[path] = read_bytes(xen1, path)
    inventory = tmp_path / "inventory.py"
    fleet.write_inventory(inventory, {"xen1": DOM0})

    run = pyinfra(inventory, "deploys/dom0.py")
    assert run.returncode == 0, run.output[-4000:]
    assert xen1.sim_state()["kernel"] == "xen"
    for path, original in originals.items():
        now = xen1.read(path)
        for line in admin_lines(original.decode()):
            assert line in now.splitlines(), f"{path} lost {line!r}"
        # The admin's original of a file we changed is kept byte for byte, once.
        if read_bytes(xen1, path) != original:
            assert read_bytes(xen1, f"{path}.orig") == original, path
        else:
            assert not xen1.exists(f"{path}.orig"), path
    assert 'zfs_load="YES"' in xen1.read("/boot/loader.conf")
    assert 'xen_kernel="/boot/xen"' in xen1.read("/boot/loader.conf")
    assert re.search(r"^memorylocked=unlimited|:memorylocked=unlimited:", xen1.read("/etc/login.conf"), re.M)

    again = pyinfra(inventory, "deploys/dom0.py")
    assert again.returncode == 0, again.output[-4000:]
    assert again.changed_operations() == {}
    for path, original in originals.items():
        if xen1.exists(f"{path}.orig"):
            assert read_bytes(xen1, f"{path}.orig") == original, f"{path}.orig was overwritten"
