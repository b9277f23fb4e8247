"""
The read and write layer end to end, against files in the state real admins
leave them: no final newline, CRLF, a directory where a file is expected, a
file changed between the read and the write, two deploys in one run. Every line
the admin wrote survives, or the host is refused with a message naming the file.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid

import pytest

from tests.e2e.deploy import PYINFRA, ROOT, Run, pyinfra

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


def pyinfra_deploys(inventory, *deploys: str) -> Run:
    """The CLI with several deploy files in one run, as ``pyinfra INV a.py b.py``."""

    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200")
    done = subprocess.run([PYINFRA, "-y", str(inventory), *deploys], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, env=env)
    return Run(done.returncode, done.stdout + done.stderr)


def converged(fleet, tmp_path, *names: str, **data):
    """Hosts that ran deploys/dom0.py once (rebooted into Xen), and their inventory."""

    hosts = start(fleet, *names)
    inventory = tmp_path / "inventory.py"
    fleet.write_inventory(inventory, {name: {**DOM0, **data} for name in names})
    run = pyinfra(inventory, "deploys/dom0.py")
    assert run.returncode == 0, run.output[-4000:]
    return hosts, inventory


def test_a_read_that_cannot_be_parsed_stops_that_host_alone(fleet, tmp_path):
    xen1, xen2 = start(fleet, "xen1", "xen2")
    # A broken od(1) on xen1: its file reads come back as something else than a dump.
    for od in ("/bin/od", "/usr/bin/od"):
        if xen1.exists(od):
            xen1.path(od).unlink()
        xen1.write(od, "#!/bin/sh\necho 'zz not a dump'\n", 0o755)
    before = {path: read_bytes(xen1, path) for path in ADMIN_FILES}
    inventory = tmp_path / "inventory.py"
    fleet.write_inventory(inventory, {"xen1": DOM0, "xen2": DOM0})

    run = pyinfra(inventory, "deploys/dom0.py")
    assert "[xen1] ReadError: cannot read /boot/loader.conf: its dump is not od(1) hex output" in run.output
    assert "Traceback" not in run.output
    assert {path: read_bytes(xen1, path) for path in ADMIN_FILES} == before
    assert xen1.sim_state()["boot_count"] == 0 or xen1.sim_state()["kernel"] == "freebsd"
    assert xen2.sim_state()["kernel"] == "xen"  # the other host went on


def make_directory(host, path):
    host.path(path).mkdir(parents=True)


def make_symlink(host, path):
    host.path(path).rename(host.path(path + ".real"))
    host.path(path).symlink_to(path.rsplit("/", 1)[1] + ".real")


@pytest.mark.parametrize(
    "path, make, kind",
    [("/usr/local/etc/xen/xl.conf", make_directory, "a directory"),
     ("/boot/loader.conf", make_symlink, "a symbolic link")],
    ids=["directory", "symlink"],
)
def test_a_path_that_is_not_a_regular_file_is_refused(fleet, tmp_path, path, make, kind):
    (xen1,) = start(fleet, "xen1")
    make(xen1, path)
    name = path.rsplit("/", 1)[1]
    ours = lambda: sorted(n for n in os.listdir(xen1.path(path).parent) if name in n or n.startswith("."))  # noqa: E731
    before = ours()
    inventory = tmp_path / "inventory.py"
    fleet.write_inventory(inventory, {"xen1": DOM0})
    run = pyinfra(inventory, "deploys/dom0.py")
    assert run.returncode != 0
    assert f"{path} is {kind}, not a regular file: refusing to replace it" in run.output
    assert "Traceback" not in run.output
    assert ours() == before  # no copy, no staging left behind, the link or directory as it was
    assert xen1.sim_state()["kernel"] == "freebsd"  # no reboot after a refused write


def test_a_file_changed_between_read_and_write_is_refused(fleet, tmp_path):
    (xen1,), inventory = converged(fleet, tmp_path, "xen1")
    # In one run: an admin's edit of rc.conf (through pyinfra's own operation,
    # which our cache cannot know of) lands after our read and before our write.
    fleet.write_inventory(inventory, {"xen1": {**DOM0, "xen_bridge_ip": "inet 192.0.2.10/24"}})
    run = pyinfra_deploys(inventory, "tests/e2e/deploys/admin_edits_rc_conf.py", "deploys/dom0.py")
    assert run.returncode != 0
    assert "refusing to write /etc/rc.conf: it changed since it was read" in run.output
    rc_conf = xen1.read("/etc/rc.conf")
    assert 'keymap="fr.acc"' in rc_conf  # the admin's edit survives
    assert 'ifconfig_bridge0="addm em0 SYNCDHCP"' in rc_conf  # and ours was not made from a stale read
    # The rerun reads afresh and converges, keeping both.
    again = pyinfra(inventory, "deploys/dom0.py")
    assert again.returncode == 0, again.output[-4000:]
    rc_conf = xen1.read("/etc/rc.conf")
    assert 'keymap="fr.acc"' in rc_conf and 'ifconfig_bridge0="addm em0 inet 192.0.2.10/24"' in rc_conf


def test_two_deploys_in_one_run_lose_no_update(fleet, tmp_path):
    """
    Was: the guests deploy wrote rc.conf from its read taken before the Dom0
    deploy's rc.conf change, and the new xen_bridge_ip was lost.
    """

    (xen1,), inventory = converged(fleet, tmp_path, "xen1")
    stock_rc_conf = read_bytes(xen1, "/etc/rc.conf.orig")
    guest = {"name": "web", "memory": 256, "vcpus": 1, "type": "hvm", "vifs": [{"bridge": "bridge0"}]}
    fleet.write_inventory(
        inventory, {"xen1": {**DOM0, "xen_bridge_ip": "inet 192.0.2.10/24", "xen_guests": [guest]}},
    )
    run = pyinfra_deploys(inventory, "deploys/dom0.py", "deploys/guests.py")
    assert run.returncode == 0, run.output[-4000:]
    rc_conf = xen1.read("/etc/rc.conf")
    assert 'ifconfig_bridge0="addm em0 inet 192.0.2.10/24"' in rc_conf
    assert 'xendomains_list="web"' in rc_conf
    # Three writes of rc.conf so far: the admin's original is still the one kept.
    assert read_bytes(xen1, "/etc/rc.conf.orig") == stock_rc_conf
    assert 'hostname="xen1"' in stock_rc_conf.decode() and b"xencommons" not in stock_rc_conf


SECRET = "s3;$(x)'"  # a VNC password full of shell syntax, at most 8 characters


def test_secrets_are_never_read_back_copied_or_left_readable(fleet, tmp_path):
    (xen1,), inventory = converged(fleet, tmp_path, "xen1")
    guest = {"name": "web", "memory": 256, "vcpus": 1, "type": "hvm", "vifs": [{"bridge": "bridge0"}],
             "vnc": {"listen": "127.0.0.1", "password": SECRET}}
    fleet.write_inventory(inventory, {"xen1": {**DOM0, "xen_guests": [guest]}})
    run = pyinfra(inventory, "deploys/guests.py", "-vvv")
    assert run.returncode == 0, run.output[-4000:]
    assert SECRET not in run.output
    assert xen1.domains().get("web") is not None
    config = "/usr/local/etc/xen/web.cfg"
    assert oct(xen1.path(config).stat().st_mode & 0o777) == "0o600"
    xen_dir = sorted(os.listdir(xen1.path("/usr/local/etc/xen")))
    assert not [name for name in xen_dir if name.startswith("web.cfg.") or name.startswith(".")], xen_dir

    # The standalone fact reads xl list -l as the composite read does: redacted on the host.
    fact = pyinfra_deploys(inventory, "fact", "facts.xl.XlDomainConfig")
    assert fact.returncode == 0, fact.output[-3000:]
    assert '"<redacted>"' in fact.output and SECRET not in fact.output and "$(x)" not in fact.output

    # A run cut after the upload leaves a staging directory only root can enter;
    # the next write in that directory removes it.
    leftover = xen1.path("/usr/local/etc/xen/.pyinfra-stage.0123456789abcdef")
    leftover.mkdir(mode=0o700)
    (leftover / "web.cfg").write_text(f'vncpasswd = "{SECRET}"\n')
    guest["memory"] = 384
    fleet.write_inventory(inventory, {"xen1": {**DOM0, "xen_guests": [guest]}})
    again = pyinfra(inventory, "deploys/guests.py")
    assert again.returncode == 0, again.output[-4000:]
    assert not leftover.exists()
    assert "memory = 384" in xen1.read(config)


def test_a_read_that_fails_mid_run_stops_that_host_alone(fleet, tmp_path):
    """The same at execute time: a host read again after a change, and that read fails."""

    xen1, xen2 = start(fleet, "xen1", "xen2")
    inventory = tmp_path / "inventory.py"
    fleet.write_inventory(inventory, {"xen1": DOM0, "xen2": DOM0})
    before = {path: read_bytes(xen1, path) for path in ADMIN_FILES}
    run = pyinfra_deploys(inventory, "tests/e2e/deploys/break_od_on_xen1.py", "deploys/dom0.py")
    assert "[xen1] ReadError: cannot read /boot/loader.conf: its dump is not od(1) hex output" in run.output
    assert "Traceback" not in run.output and "Unexpected error" not in run.output
    assert {path: read_bytes(xen1, path) for path in ADMIN_FILES} == before
    assert xen1.sim_state()["kernel"] == "freebsd"
    assert xen2.sim_state()["kernel"] == "xen"  # the other host went on
