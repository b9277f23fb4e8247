"""
The guest side of the simulated FreeBSD/Xen host (simhost): xl create/list -l/mem-set/
vcpu-set/shutdown/destroy, zfs volumes, fetch(1), truncate(1), and the Dom0's boot and
shutdown running our xendomains rc.d script.  Every rule is checked both ways (what
real xl/zfs/fetch accept, and what they refuse with their own messages), so a sim that
turns into a yes-machine fails here.

One Dom0 (module fixture) serves most tests; each test uses its own guest names and
removes what it created.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

from tests.simdom0 import make_xen_dom0, sh, simulated_dom0

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from facts.xl import parse_xl_info, parse_xl_list, parse_xl_list_long  # noqa: E402
from facts.zfs import parse_zfs_volumes  # noqa: E402

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ISO_URL = "https://download.freebsd.org/releases/ISO-IMAGES/14.2/FreeBSD-14.2-RELEASE-amd64-bootonly.iso"
ISO = b"FreeBSD bootonly ISO (simulated)\n" * 64


def sender_lines(res) -> list[str]:
    """
    xl migrate's own stderr lines: the target's messages arrive on the same
    stderr concurrently, so only the sender's sequence is deterministic.
    """

    return [line for line in res.stderr.splitlines() if not line.startswith("migration target:")]


@pytest.fixture(scope="module")
def dom0():
    with simulated_dom0(before_start=lambda fleet: fleet.mirror_add(ISO_URL, ISO)) as fleet:
        yield fleet


def hvm_cfg(name: str, disk: str, *, cdrom: str | None = None, bridge: str = "bridge0", memory: int = 512,
            maxmem: int | None = None, vcpus: int = 1, maxvcpus: int | None = None, extra: str = "") -> str:
    """A config file in the form spec/xlcfg.py writes."""
    disks = [f"'format=raw, vdev=hda, access=rw, target={disk}'"]
    if cdrom:
        disks.append(f"'format=raw, vdev=hdc, access=ro, devtype=cdrom, target={cdrom}'")
    lines = [
        "# Managed by pyinfra (freebsd-xen); edits will be overwritten.",
        f'name = "{name}"', 'type = "hvm"', f"memory = {memory}",
        *([f"maxmem = {maxmem}"] if maxmem else []), f"vcpus = {vcpus}",
        *([f"maxvcpus = {maxvcpus}"] if maxvcpus else []),
        "disk = [\n" + "".join(f"    {d},\n" for d in disks) + "]",
        f'boot = "{"dc" if cdrom else "c"}"',
        f"vif = [ 'type=vif, mac=00:16:3e:00:00:{abs(hash(name)) % 90 + 10:02d}, bridge={bridge}' ]",
        "vnc = 1", 'vnclisten = "127.0.0.1"', 'serial = "pty"', "usb = 1", 'usbdevice = [ "tablet" ]',
    ]
    return "\n".join(lines) + "\n" + extra


def new_guest(host, name: str, *, size: str = "1G", **kw) -> str:
    """A zvol and a config file; returns the config path (the guest is not started)."""
    sh(host, f"zfs create -p -V {size} -o volmode=dev zroot/xen/{name}-disk0")
    path = f"/usr/local/etc/xen/{name}.cfg"
    host.write(path, hvm_cfg(name, f"/dev/zvol/zroot/xen/{name}-disk0", **kw))
    return path


def cleanup(host, *names: str) -> None:
    for n in names:
        host.run(f"xl destroy {n}; zfs destroy zroot/xen/{n}-disk0; rm -f /usr/local/etc/xen/{n}.cfg")


def xl_list(host) -> dict:
    return {d.name: d for d in parse_xl_list(sh(host, "xl list").stdout)}


# -- xl create / list -l ------------------------------------------------------------------------

def test_create_records_the_domain_and_its_live_config(dom0):
    host = dom0.hosts["xen1"]
    sh(host, f"mkdir -p /var/lib/xen/iso && fetch -q -o /var/lib/xen/iso/fb.iso {ISO_URL}")
    cfg = new_guest(host, "web", cdrom="/var/lib/xen/iso/fb.iso", memory=1024, maxmem=2048, vcpus=2, maxvcpus=4)
    try:
        res = sh(host, f"xl create {cfg}")
        assert res.stderr == f"Parsing config from {cfg}\n" and res.stdout == ""
        doms = xl_list(host)
        web = doms["web"]
        assert (web.mem_mib, web.vcpus, web.state_flags) == (1024, 2, "-b----")
        assert web.domid > 0 and doms["Domain-0"].domid == 0
        state = host.domains()["web"]
        assert state["cfg"] == cfg and state["type"] == "hvm" and state["pv_drivers"] == "0"  # installer

        # xl list -l: the product's parser reads every entry, Domain-0 included (its stub config)
        live = parse_xl_list_long(sh(host, "xl list -l").stdout)
        assert set(live) == {"Domain-0", "web"}
        assert live["Domain-0"]["domid"] == 0 and live["Domain-0"]["config"]["c_info"]["type"] == "pvh"
        c = live["web"]["config"]
        assert c["c_info"]["type"] == "hvm" and c["c_info"]["uuid"] == state["uuid"]
        assert c["b_info"]["max_vcpus"] == 4 and c["b_info"]["avail_vcpus"] == [0, 1]
        assert (c["b_info"]["max_memkb"], c["b_info"]["target_memkb"]) == (2048 * 1024, 1024 * 1024)
        assert c["b_info"]["type.hvm"] == {
            "vnc": {"enable": "True", "listen": "127.0.0.1"}, "serial": "pty", "boot": "dc", "usb": "True",
            "usbdevice_list": ["tablet"],
        }
        # xl's defaults (the config sets none); "destroy", the enum's init_val, is left out
        assert {k: v for k, v in c.items() if k.startswith("on_")} == {"on_reboot": "restart", "on_soft_reset": "soft_reset"}
        assert c["disks"] == [
            {"pdev_path": "/dev/zvol/zroot/xen/web-disk0", "vdev": "hda", "format": "raw", "readwrite": 1,
             "colo_restore_enable": "False"},
            {"pdev_path": "/var/lib/xen/iso/fb.iso", "vdev": "hdc", "format": "raw",
             "removable": 1, "is_cdrom": 1, "colo_restore_enable": "False"},
        ]
        nic = c["nics"][0]
        assert nic["bridge"] == "bridge0" and nic["mac"].startswith("00:16:3e:") and nic["devid"] == 0
        # one domain by name; yajl's 4-space layout
        one = sh(host, "xl list -l web").stdout
        assert list(parse_xl_list_long(one)) == ["web"] and one.startswith('[\n    {\n        "domid": ')

        # the vif is the netback interface on the bridge (and the emulated one for hvm)
        members = host.sim_state()["interfaces"]["bridge0"]
        assert f"xnb{web.domid}.0" in members and f"xnb{web.domid}.0-emu" in members
        assert f"xnb{web.domid}.0" in sh(host, "ifconfig -l").stdout.split()
    finally:
        cleanup(host, "web")
    assert not any(m.startswith("xnb") for m in host.sim_state()["interfaces"]["bridge0"])
    assert "xnb" not in sh(host, "ifconfig -l").stdout


def test_create_reads_the_config_file_like_xl(dom0):
    host = dom0.hosts["xen1"]
    new_guest(host, "rel")
    try:
        # xl opens the path as given: a relative one is relative to the working directory
        res = sh(host, "cd / && xl create rel.cfg", rc=3)  # create_domain: ERROR_FAIL
        assert res.stderr == "Failed to read config file: rel.cfg: No such file or directory\n"
        res = sh(host, "xl create /usr/local/etc/xen", rc=3)
        assert res.stderr == "Failed to read config file: /usr/local/etc/xen: Is a directory\n"
        sh(host, "cd /usr/local/etc/xen && xl create rel.cfg")
        assert host.domains()["rel"]["cfg"] == "rel.cfg"
        sh(host, "xl destroy rel")

        # libxlutil's grammar, and xl's own checks
        bad = {
            'name = "x\nmemory = 1\n': "config parsing error near",
            'memory = 256\n': "Domain name must be specified.\n",
            'name = "t"\ntype = "kvm"\n': "Invalid domain type kvm.\n",
            'name = "t"\ntype = "hvm"\nvcpus = 4\nmaxvcpus = 2\n': "xl: maxvcpus < vcpus\n",
            'name = "t"\ntype = "pv"\n': "Neither kernel nor bootloader specified\n",
            'name = "t"\ntype = "hvm"\ndisk = [ "format=raw, access=rw, target=/dev/null" ]\n': "no vdev specified",
            'name = "t"\ntype = "hvm"\ndisk = [ "format=raw, vdev=hda, speed=fast, target=/x" ]\n': "unknown keyword",
            'name = "t"\ntype = "hvm"\nvif = [ "bridge=bridge0, colour=red" ]\n': 'Unknown string "colour=red" in vif spec',
        }
        for text, message in bad.items():
            host.write("/tmp/t.cfg", text)
            res = sh(host, "xl create /tmp/t.cfg", rc=1)
            assert message in res.stderr, (text, res.stderr)
        assert "t" not in host.domains()
        # "type" takes a prefix, as xl's strncmp does; a dry run (-n) creates nothing
        host.write("/tmp/t.cfg", 'name = "t"\ntype = "h"\n')
        sh(host, "xl create -n /tmp/t.cfg")
        assert "t" not in host.domains()
    finally:
        cleanup(host, "rel")


def test_create_refuses_what_xen_refuses(dom0):
    host = dom0.hosts["xen1"]
    cfg = new_guest(host, "dup")
    try:
        sh(host, f"xl create {cfg}")
        first = host.domains()["dup"]["domid"]
        # a failed creation exits 3 (main_create: -ERROR_FAIL), libxl_domain.c:81 "Domain with name"
        res = sh(host, f"xl create {cfg}", rc=3)
        assert 'Domain with name "dup" already exists.' in res.stderr
        assert host.domains()["dup"]["domid"] == first

        # memory: more than xl info's free_memory
        free = parse_xl_info(sh(host, "xl info").stdout)["free_memory"]
        host.write("/tmp/big.cfg", hvm_cfg("big", "/dev/zvol/zroot/xen/dup-disk0", memory=free + 1))
        res = sh(host, "xl create /tmp/big.cfg", rc=3)
        assert "can't allocate low memory for domain: Out of memory" in res.stderr and "big" not in host.domains()
        host.write("/tmp/big.cfg", hvm_cfg("big", "/dev/zvol/zroot/xen/dup-disk0", memory=free - 1))
        sh(host, "xl create /tmp/big.cfg")  # the same disk twice is the admin's problem, not Xen's
        assert parse_xl_info(sh(host, "xl info").stdout)["free_memory"] == 1
        sh(host, "xl destroy big")

        # a disk target that does not exist: libxl's stat() of the target
        host.write("/tmp/nodisk.cfg", hvm_cfg("nodisk", "/dev/zvol/zroot/xen/missing"))
        res = sh(host, "xl create /tmp/nodisk.cfg", rc=3)
        assert ("libxl__device_disk_set_backend: Disk vdev=hda failed to stat: /dev/zvol/zroot/xen/missing: "
                "No such file or directory\n") in res.stderr
        assert "Unable to set disk defaults for disk 0" in res.stderr and "nodisk" not in host.domains()
        host.write("/tmp/nodisk.cfg", hvm_cfg("nodisk", "/dev/zvol/zroot/xen/dup-disk0", cdrom="/var/lib/xen/iso/none.iso"))
        res = sh(host, "xl create /tmp/nodisk.cfg", rc=3)
        assert "Disk vdev=hdc failed to stat: /var/lib/xen/iso/none.iso" in res.stderr

        # a bridge that does not exist: FreeBSD's vif-bridge hotplug script fails
        host.write("/tmp/nobr.cfg", hvm_cfg("nobr", "/dev/zvol/zroot/xen/dup-disk0", bridge="bridge7"))
        res = sh(host, "xl create /tmp/nobr.cfg", rc=3)
        assert "ifconfig: interface bridge7 does not exist\n" in res.stderr
        assert "/usr/local/etc/xen/scripts/vif-bridge /local/domain/0/backend/vif/" in res.stderr
        assert "exited with error status 1" in res.stderr and "unable to add vif devices" in res.stderr
        assert "nobr" not in host.domains() and "xnb" not in sh(host, "ifconfig -l").stdout.replace(
            f"xnb{first}.0", "")
        # without bridge= a vif goes to xl.conf's default bridge, xenbr0: not on FreeBSD
        host.write("/tmp/nobr.cfg", 'name = "nobr"\ntype = "hvm"\nvif = [ "mac=00:16:3e:01:02:03" ]\n')
        assert "ifconfig: interface xenbr0 does not exist" in sh(host, "xl create /tmp/nobr.cfg", rc=3).stderr
        # an IDE disk beyond hdd
        host.write("/tmp/hde.cfg", hvm_cfg("hde", "/dev/zvol/zroot/xen/dup-disk0").replace("vdev=hda", "vdev=hde"))
        assert "Invalid or unsupported virtual disk identifier hde" in sh(host, "xl create /tmp/hde.cfg", rc=3).stderr

        # every failed creation after the domain was made used up a domid
        sh(host, "xl destroy dup")
        sh(host, f"xl create {cfg}")
        assert int(host.domains()["dup"]["domid"]) > int(first) + 5
    finally:
        cleanup(host, "dup")


def test_mem_set_and_vcpu_set_on_a_guest(dom0):
    host = dom0.hosts["xen1"]
    cfg = new_guest(host, "flex", memory=512, maxmem=1024, vcpus=1, maxvcpus=2)
    try:
        sh(host, f"xl create {cfg}")
        sh(host, "xl mem-set flex 1024m")
        sh(host, "xl vcpu-set flex 2")
        time.sleep(1.1)  # the guest's balloon driver and vCPU hotplug act (test_simhost_xl_real.py)
        assert (xl_list(host)["flex"].mem_mib, xl_list(host)["flex"].vcpus) == (1024, 2)
        b = parse_xl_list_long(sh(host, "xl list -l flex").stdout)["flex"]["config"]["b_info"]
        assert (b["target_memkb"], b["avail_vcpus"], b["max_memkb"]) == (1024 * 1024, [0, 1], 1024 * 1024)
        res = sh(host, "xl mem-set flex 1025m", rc=1)
        assert "memory_dynamic_max must be less than or equal to memory_static_max" in res.stderr
        res = sh(host, "xl vcpu-set flex 3", rc=1)
        assert "Requested 3 VCPUs, however maxcpus is 2!" in res.stderr
        assert (xl_list(host)["flex"].mem_mib, xl_list(host)["flex"].vcpus) == (1024, 2)
        sh(host, "xl mem-set flex 768m")
        assert parse_xl_list_long(sh(host, "xl list -l flex").stdout)["flex"]["config"]["b_info"]["target_memkb"] == 768 * 1024
    finally:
        cleanup(host, "flex")


# -- shutdown / destroy ----------------------------------------------------------------------

def test_shutdown_needs_pv_drivers_or_an_acpi_button(dom0):
    host = dom0.hosts["xen1"]
    inst = new_guest(host, "inst", cdrom="/var/lib/xen/iso/fb.iso")
    disk = new_guest(host, "disk")
    sh(host, "mkdir -p /var/lib/xen/iso && test -f /var/lib/xen/iso/fb.iso || fetch -q -o /var/lib/xen/iso/fb.iso " + ISO_URL)
    try:
        sh(host, f"xl create {inst} && xl create {disk}")
        domid = host.domains()["inst"]["domid"]
        # an installer booted from the cdrom has no PV drivers: only the ACPI button works
        res = sh(host, "xl shutdown -w inst", rc=1)
        assert res.stderr == (
            f"Shutting down domain {domid}\n"
            "PV control interface not available: external graceful shutdown not possible.\n"
            'Use "-F" to fallback to ACPI power event.\n'
            "shutdown failed (rc=-10)\n"
        )
        assert "inst" in host.domains()
        res = sh(host, "xl shutdown -w -F inst")
        assert res.stderr == (
            f"Shutting down domain {domid}\n"
            "PV control interface not available: sending ACPI power button event.\n"
            "Waiting for 1 domains\n"
            f"Domain {domid} has been shut down, reason code 0\n"
        )
        # shut down is not gone: it lingers ("s") until its xl daemon destroys it
        assert xl_list(host)["inst"].state_flags == "--ps--"  # paused by its daemon destroying it
        time.sleep(0.5)  # the default linger, 0.3 s
        assert "inst" not in host.domains() and "inst" not in xl_list(host)

        # booted from its disk: PV drivers; without -w xl returns while the guest shuts down
        host.write("/.sim/xen/shutdown_ms", "1500\n")
        t = time.monotonic()
        sh(host, "xl shutdown disk")
        assert time.monotonic() - t < 1.0 and "disk" in xl_list(host)
        assert 'already exists' in sh(host, f"xl create {disk}", rc=3).stderr  # still there
        sh(host, "xl shutdown -w -w disk")  # waits for the same shutdown, and the destruction
        assert "disk" not in xl_list(host)
        host.write("/.sim/xen/shutdown_ms", "200\n")

        # a guest that ignores the request: the product's bounded shutdown destroys it
        sh(host, f"xl create {disk}")
        host.write("/.sim/xen/domains/disk/ignores_shutdown", "")
        t = time.monotonic()
        res = sh(host, "timeout 1 xl shutdown -w -F disk || xl destroy disk")
        assert 0.9 < time.monotonic() - t < 5 and "disk" not in xl_list(host)

        # xl's refusals
        assert sh(host, "xl shutdown", rc=1).stderr == "You must specify -a or a domain id.\n\n"
        assert sh(host, "xl shutdown nosuch", rc=1).stderr == "nosuch is an invalid domain identifier (rc=-6)\n"
        assert sh(host, "xl destroy nosuch", rc=1).stderr == "nosuch is an invalid domain identifier (rc=-6)\n"
        assert sh(host, "xl list disk", rc=1).stderr == "disk is an invalid domain identifier (rc=-6)\n"
        assert sh(host, "xl destroy 0", rc=1).stderr.startswith("Not destroying domain 0; use -f to force.\n")
        assert "Domain-0" in xl_list(host)
    finally:
        host.write("/.sim/xen/shutdown_ms", "1000\n")
        cleanup(host, "inst", "disk")


def test_product_commands_over_ssh(dom0):
    """The product's shutdown/create commands (operations/guests.py) as pyinfra runs them."""
    import paramiko

    from operations.guests import shutdown_command
    from spec.guest import GuestSpec

    host = dom0.hosts["xen1"]
    cfg = new_guest(host, "ssh1")
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect("127.0.0.1", port=host.port, username="root", key_filename=str(dom0.client_key),
                   allow_agent=False, look_for_keys=False, timeout=5)
    try:
        def run(command):
            _, out, err = client.exec_command(command, timeout=30)
            return out.channel.recv_exit_status(), out.read().decode(), err.read().decode()

        assert run(f"xl create {cfg}")[0] == 0
        spec = GuestSpec(name="ssh1", memory=512, vcpus=1, disks=[{"zvol": "zroot/xen/ssh1-disk0", "size": "1G"}])
        rc, _, err = run(shutdown_command(spec, 5))
        assert rc == 0, err
        assert "ssh1" not in host.domains()
    finally:
        client.close()
        cleanup(host, "ssh1")


# -- zfs ------------------------------------------------------------------------------------------

def test_zfs_volumes(dom0):
    host = dom0.hosts["xen1"]
    try:
        res = sh(host, "zfs create -V 1G -o volmode=dev zroot/vm/a", rc=1)
        assert res.stderr == "cannot create 'zroot/vm/a': parent does not exist\n"
        sh(host, "zfs create -p -V 1G -o volmode=dev zroot/vm/a")
        assert sh(host, "zfs create -p -V 1G zroot/vm/a", rc=1).stderr == "cannot create 'zroot/vm/a': dataset already exists\n"
        assert sh(host, "zfs create -V 1G tank/a", rc=1).stderr == "cannot create 'tank/a': no such pool 'tank'\n"
        assert sh(host, "zfs create -V 10X zroot/vm/b", rc=1).stderr == "bad volume size '10X': invalid numeric suffix 'X'\n"
        assert "multiple of volume block size" in sh(host, "zfs create -V 1000 zroot/vm/b", rc=1).stderr
        assert sh(host, "zfs create -V 500G zroot/vm/b", rc=1).stderr == "cannot create 'zroot/vm/b': out of space\n"
        sh(host, "zfs create -s -V 500G zroot/vm/b")  # sparse: no reservation
        sh(host, "zfs create -V 1G -o volmode=none zroot/vm/c")

        vols = parse_zfs_volumes(sh(host, "zfs list -H -p -o name,volsize,volmode -t volume").stdout)
        assert {n: (v.volsize, v.volmode) for n, v in vols.items()} == {
            "zroot/vm/a": (1 << 30, "dev"), "zroot/vm/b": (500 << 30, "default"), "zroot/vm/c": (1 << 30, "none")}
        # device nodes: stat as the product does; none for volmode=none
        assert sh(host, "stat -L -f '%HT %z' /dev/zvol/zroot/vm/a").stdout == "Character Device 0\n"
        sh(host, "test -e /dev/zvol/zroot/vm/c", rc=1)
        assert sh(host, "zfs get -H -p -o value volsize zroot/vm/a").stdout == "1073741824\n"
        assert sh(host, "zfs get volmode zroot/vm/a").stdout.splitlines()[1].split() == ["zroot/vm/a", "volmode", "dev", "local"]
        assert sh(host, "zfs list -H -o name,volsize zroot/vm/a").stdout == "zroot/vm/a\t1G\n"
        assert sh(host, "zfs list zroot/vm/zz", rc=1).stderr == "cannot open 'zroot/vm/zz': dataset does not exist\n"

        sh(host, "zfs set volsize=2G zroot/vm/a")
        assert host.volumes()["zroot/vm/a"]["volsize"] == 2 << 30
        assert "does not apply to datasets of this type" in sh(host, "zfs set volsize=2G zroot/vm", rc=1).stderr
        assert sh(host, "zfs set volsize=1G zroot/vm/zz", rc=1).stderr == "cannot open 'zroot/vm/zz': dataset does not exist\n"

        # a volume a running domain uses is busy
        host.write("/tmp/z.cfg", hvm_cfg("zguest", "/dev/zvol/zroot/vm/a"))
        sh(host, "xl create /tmp/z.cfg")
        assert sh(host, "zfs destroy zroot/vm/a", rc=1).stderr == "cannot destroy 'zroot/vm/a': dataset is busy\n"
        res = sh(host, "zfs destroy zroot/vm", rc=1)
        assert res.stderr.startswith("cannot destroy 'zroot/vm': filesystem has children\n")
        sh(host, "xl destroy zguest")
        sh(host, "zfs destroy zroot/vm/a")
        sh(host, "test -e /dev/zvol/zroot/vm/a", rc=1)
        assert sh(host, "zfs destroy zroot/vm/a", rc=1).stderr == "cannot open 'zroot/vm/a': dataset does not exist\n"
        # volumes persist across a reboot, their device nodes come back
        dom0.power_cycle("xen1")
        sh(host, "test -c /dev/zvol/zroot/vm/b")
        sh(host, "zfs destroy -r zroot/vm")
        assert not [n for n in host.volumes() if n.startswith("zroot/vm")]
    finally:
        host.run("xl destroy zguest; zfs destroy -r zroot/vm")


# -- fetch / truncate / timeout ------------------------------------------------------------------

def test_fetch_from_the_mirror(dom0):
    from operations.guests import fetch_command

    host = dom0.hosts["xen1"]
    base = "https://download.example.org/iso"
    dom0.mirror_add(f"{base}/ok.iso", b"A" * 4096)
    dom0.mirror_fail(f"{base}/forbidden.iso", "Forbidden")
    dom0.mirror_truncate(f"{base}/cut.iso", b"B" * 4096, 1000)
    try:
        sh(host, f"fetch -q -o /tmp/ok.iso {base}/ok.iso")
        assert host.path("/tmp/ok.iso").read_bytes() == b"A" * 4096
        assert sh(host, f"fetch -q -o /tmp/nf.iso {base}/nf.iso", rc=1).stderr == f"fetch: {base}/nf.iso: Not Found\n"
        assert not host.exists("/tmp/nf.iso")
        assert sh(host, f"fetch -q -o /tmp/f.iso {base}/forbidden.iso", rc=1).stderr == f"fetch: {base}/forbidden.iso: Forbidden\n"
        res = sh(host, f"fetch -q -o /tmp/cut.iso {base}/cut.iso", rc=1)
        assert res.stderr == "fetch: /tmp/cut.iso appears to be truncated: 1000/4096 bytes\n"
        assert host.path("/tmp/cut.iso").stat().st_size == 1000  # fetch keeps the partial file
        assert sh(host, "fetch -q -o /tmp/x.iso https://nowhere.example.net/x.iso", rc=1).stderr == (
            "fetch: https://nowhere.example.net/x.iso: No address record\n")
        assert sh(host, f"fetch -q -o /nodir/x.iso {base}/ok.iso", rc=1).stderr == (
            "fetch: /nodir/x.iso: open(): No such file or directory\n")

        # the product's verified download: good, wrong checksum, truncated
        import hashlib
        good = hashlib.sha256(b"A" * 4096).hexdigest()
        sh(host, fetch_command(f"{base}/ok.iso", "/var/lib/xen/iso/ok.iso", good))
        assert host.exists("/var/lib/xen/iso/ok.iso") and not host.exists("/var/lib/xen/iso/ok.iso.part")
        res = sh(host, fetch_command(f"{base}/ok.iso", "/var/lib/xen/iso/bad.iso", "0" * 64), rc=1)
        assert "SHA-256 mismatch" in res.stderr and not host.exists("/var/lib/xen/iso/bad.iso")
        sh(host, fetch_command(f"{base}/cut.iso", "/var/lib/xen/iso/cut.iso", good), rc=1)
        assert not host.exists("/var/lib/xen/iso/cut.iso") and not host.exists("/var/lib/xen/iso/cut.iso.part")
        # the mirror can change under a URL; hosts added later get it too
        dom0.mirror_add(f"{base}/ok.iso", b"C")
        sh(host, f"fetch -q -o /tmp/ok.iso {base}/ok.iso")
        assert host.path("/tmp/ok.iso").read_bytes() == b"C"
        dom0.mirror_remove(f"{base}/ok.iso")
        sh(host, f"fetch -q -o /tmp/ok.iso {base}/ok.iso", rc=1)
    finally:
        host.run("rm -f /tmp/*.iso /var/lib/xen/iso/ok.iso")


def test_truncate_and_timeout(dom0):
    host = dom0.hosts["xen1"]
    sh(host, "mkdir -p /vm && truncate -s 2g /vm/a.img")
    assert sh(host, "stat -L -f '%HT %z' /vm/a.img").stdout == "Regular File 2147483648\n"
    sh(host, "truncate -s 3G /vm/a.img")
    assert host.path("/vm/a.img").stat().st_size == 3 << 30
    assert host.path("/vm/a.img").stat().st_blocks < 100  # sparse
    assert sh(host, "truncate -s 10X /vm/b.img", rc=1).stderr == "truncate: invalid size argument `10X'\n"
    assert sh(host, "truncate -s 1G /nodir/b.img", rc=1).stderr == "truncate: /nodir/b.img: No such file or directory\n"
    assert sh(host, "timeout 1 sleep 5", rc=None).returncode != 0
    sh(host, "timeout 5 true")
    sh(host, "rm -rf /vm")


# -- Dom0 boot and shutdown ------------------------------------------------------------------------

def test_xendomains_stops_and_restarts_guests_with_the_dom0(dom0):
    host = dom0.hosts["xen1"]
    new_guest(host, "auto1")
    new_guest(host, "auto2")
    n = new_guest(host, "noauto")
    host.write("/usr/local/etc/rc.d/xendomains", (REPO / "operations/assets/xendomains").read_text(), 0o555)
    rc_conf = host.read("/etc/rc.conf")
    host.write("/etc/rc.conf", rc_conf + 'xendomains_enable="YES"\nxendomains_list="auto1 auto2"\n'
               'xendomains_delay="0"\nxendomains_timeout="2"\n')
    try:
        # the rc.d script under the simulated rc.subr
        assert sh(host, "service xendomains status").stdout == "auto1 is not running.\nauto2 is not running.\n"
        sh(host, "service xendomains start")
        sh(host, f"xl create {n}")
        before = host.domains()
        assert {"auto1", "auto2", "noauto"} <= set(before)
        assert sh(host, "service xendomains rcvar").stdout == '# xendomains\nxendomains_enable="YES"\n'
        host.write("/.sim/xen/domains/auto2/ignores_shutdown", "")

        boots = host.sim_state()["boot_count"]
        dom0.power_cycle("xen1")
        assert host.sim_state()["boot_count"] == boots + 1
        log = host.read("/.sim/state/rc.shutdown.log")
        # reverse order: auto2 first; it ignores the request and is destroyed after the timeout
        assert log.index("Shutting down Xen guest auto2.") < log.index("Shutting down Xen guest auto1.")
        assert "auto2 did not shut down within 2s, destroying it" in log
        after = host.domains()
        assert {"auto1", "auto2"} <= set(after) and "noauto" not in after  # not listed: not restarted
        assert after["auto1"]["uuid"] != before["auto1"]["uuid"]  # a new domain (domids restart at boot)
        assert int(after["auto1"]["domid"]) < int(after["auto2"]["domid"])  # started in list order
        assert "xendomains: Starting Xen guest auto1." in host.read("/var/log/messages")

        # disabled: nothing comes back; the rc.shutdown watchdog cuts a slow shutdown short
        host.write("/etc/rc.conf", rc_conf + 'xendomains_enable="NO"\nxendomains_list="auto1 auto2"\n'
                   'xendomains_timeout="30"\nrcshutdown_timeout="1"\n')
        host.write("/.sim/xen/domains/auto1/ignores_shutdown", "")
        t = time.monotonic()
        dom0.power_cycle("xen1")
        assert time.monotonic() - t < 10
        assert "shutdown" not in host.read("/.sim/state/rc.shutdown.log")  # not enabled: not stopped
        assert {"auto1", "auto2"} & set(host.domains()) == set()
        host.write("/etc/rc.conf", rc_conf + 'xendomains_enable="YES"\nxendomains_list="auto1"\n'
                   'xendomains_timeout="30"\nrcshutdown_timeout="1"\n')
        sh(host, "service xendomains start")
        host.write("/.sim/xen/domains/auto1/ignores_shutdown", "")
        dom0.power_cycle("xen1")
        assert "1 second watchdog timeout expired. Shutdown terminated." in host.read("/.sim/state/rc.shutdown.log")
        assert "auto1" in host.domains()  # restarted at boot all the same
    finally:
        host.write("/etc/rc.conf", rc_conf)
        host.run("rm -f /usr/local/etc/rc.d/xendomains")
        cleanup(host, "auto1", "auto2", "noauto")


# -- live migration between two Dom0s --------------------------------------------------------------

@pytest.fixture(scope="module")
def pair():
    """Two Dom0s sharing /shared (a bind mount of one directory), reachable from each other
    over SSH by their names."""
    if os.geteuid() != 0:
        pytest.skip("simhost needs root")
    from simhost import Fleet
    from simhost.fleet import cleanup_stale

    cleanup_stale()
    fleet = Fleet()
    try:
        for name in ("xen1", "xen2"):
            fleet.add(name, "freebsd14")
        fleet.share_storage("/shared")
        fleet.start()
        for name in ("xen1", "xen2"):
            make_xen_dom0(fleet.hosts[name])
            fleet.power_cycle(name)
        sh(fleet.hosts["xen1"], "mkdir -p /shared/vm")
        yield fleet
    finally:
        fleet.stop()


def migrate_in_background(host, command: str):
    import threading

    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("res", host.run(command, timeout=60)))
    thread.start()
    return thread, result


def wait_for(predicate, timeout: float = 10, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_hosts_reach_each_other_over_ssh(pair):
    a = pair.hosts["xen1"]
    assert sh(a, "ssh xen2 hostname").stdout == "xen2\n"
    assert sh(pair.hosts["xen2"], "ssh -o BatchMode=yes -o ConnectTimeout=10 xen1 true").returncode == 0
    res = sh(a, "ssh xen9 true", rc=255)
    assert res.stderr.startswith("ssh: Could not resolve hostname xen9")
    # the shared directory is the same on both
    sh(a, "echo hello > /shared/hello")
    assert pair.hosts["xen2"].read("/shared/hello") == "hello\n"
    sh(a, "rm /shared/hello")


def test_migrate_moves_the_guest_and_keeps_its_identity(pair):
    a, b = pair.hosts["xen1"], pair.hosts["xen2"]
    sh(a, "truncate -s 1G /shared/vm/mv.img")
    a.write("/usr/local/etc/xen/mv.cfg", hvm_cfg("mv", "/shared/vm/mv.img", memory=768, maxmem=1024, vcpus=2, maxvcpus=4))
    try:
        sh(a, "xl create /usr/local/etc/xen/mv.cfg")
        sh(a, "xl mem-set mv 900m")
        time.sleep(1.1)  # the guest's balloon driver takes it up
        before = a.domains()["mv"]
        assert before["memory"] == "900"
        live_before = parse_xl_list_long(sh(a, "xl list -l mv").stdout)["mv"]["config"]
        res = sh(a, "xl migrate mv xen2")
        assert sender_lines(res)[-2:] == ["migration sender: Target reports successful startup.", "Migration successful."]
        assert "migration target: Ready to receive domain.\n" in res.stderr  # the receiver's stderr, over ssh
        assert "mv" not in a.domains() and not [n for n in a.domains() if n.startswith("mv")]
        after = b.domains()["mv"]
        for key in ("uuid", "memory", "maxmem", "vcpus", "maxvcpus", "start_time", "type", "state"):
            assert after[key] == before[key], key
        assert int(sh(b, "xl list mv").stdout.splitlines()[1].split()[-1].split(".")[0]) >= 0
        live_after = parse_xl_list_long(sh(b, "xl list -l mv").stdout)["mv"]["config"]
        assert live_after["c_info"] == live_before["c_info"] and live_after["disks"] == live_before["disks"]
        assert live_after["nics"] == live_before["nics"] and live_after["b_info"]["target_memkb"] == 900 * 1024
        domid = after["domid"]
        assert f"xnb{domid}.0" in b.sim_state()["interfaces"]["bridge0"]
        assert not any(m.startswith("xnb") for m in a.sim_state()["interfaces"]["bridge0"])
        # and back, with -s (the ssh command xl runs)
        res = sh(b, "xl migrate -s 'ssh -o BatchMode=yes' mv xen1")
        assert a.domains()["mv"]["uuid"] == before["uuid"] and "mv" not in b.domains()
        # the sender refuses what xl refuses
        assert sh(a, "xl migrate nosuch xen2", rc=1).stderr == "nosuch is an invalid domain identifier (rc=-6)\n"
        res = sh(a, "xl migrate mv xen9", rc=1)
        assert "ssh: Could not resolve hostname xen9" in res.stderr
        assert "file/stream truncated reading banner from migration receiver stream" in res.stderr
        assert a.domains()["mv"]["state"] == "-b----"
    finally:
        for h in (a, b):
            h.run("xl destroy mv")
        a.run("rm -f /shared/vm/mv.img /usr/local/etc/xen/mv.cfg")


def test_migrate_says_what_libxc_says_and_the_sender_lists_the_migratedaway_copy(pair):
    """Real Xen 4.17 (realxen D13, D14): libxc's save/restore info lines, the xl header's
    optional data length (u32 + libxl's JSON config + NUL, xl_saverestore.c), and a
    receiver that takes a while to start the guest after the go, so the sender lists
    <name>--migratedaway meanwhile."""
    a, b = pair.hosts["xen1"], pair.hosts["xen2"]
    sh(a, "truncate -s 1G /shared/vm/la.img")
    a.write("/usr/local/etc/xen/la.cfg", hvm_cfg("la", "/shared/vm/la.img"))
    try:
        sh(a, "xl create /usr/local/etc/xen/la.cfg")
        domid = a.domains()["la"]["domid"]
        listing = sh(a, "xl list -l la").stdout.splitlines()
        start = listing.index('        "config": {')
        end = listing.index("        }", start)
        config_json = "\n".join(["{"] + [line[8:] for line in listing[start + 1:end + 1]]) + "\n"
        thread, result = migrate_in_background(a, "xl migrate la xen2")
        seen = set()
        while thread.is_alive():
            seen |= {line.split()[0] for line in a.run("xl list").stdout.splitlines()[1:]}
            time.sleep(0.1)
        thread.join()
        res = result["res"]
        assert res.returncode == 0, res.stderr
        assert "la--migratedaway" in seen
        lines = res.stderr.splitlines()
        length = len(config_json) + 1 + 4
        assert f"Saving to migration stream new xl format (info 0x3/0x0/{length})" in lines
        assert f"Loading new save file <incoming migration stream> (new xl fmt info 0x3/0x0/{length})" in lines
        for line in (f"xc: info: Saving domain {domid}, type x86 HVM", "xc: info: Found x86 HVM domain from Xen 4.19",
                     "xc: info: Restoring domain", "xc: info: Restore successful",
                     "xc: info: XenStore: mfn 0xfeffc, dom 0, evt 1", "xc: info: Console: mfn 0xfefff, dom 0, evt 2"):
            assert line in lines, (line, res.stderr)
    finally:
        for h in (a, b):
            h.run("xl destroy la")
        a.run("rm -f /shared/vm/la.img /usr/local/etc/xen/la.cfg")


def test_a_memory_target_not_yet_reached_moves_with_the_guest(pair):
    """The saved config carries libxl's target (b_info.target_memkb, avail_vcpus); the guest
    takes it up at the target host as it would have at the source."""
    a, b = pair.hosts["xen1"], pair.hosts["xen2"]
    sh(a, "truncate -s 1G /shared/vm/tg.img")
    a.write("/usr/local/etc/xen/tg.cfg", hvm_cfg("tg", "/shared/vm/tg.img", memory=512, maxmem=1024, maxvcpus=2))
    pair.guest_behaviour(None, "tg", "pv", balloon_seconds=3)
    try:
        sh(a, "xl create /usr/local/etc/xen/tg.cfg")
        sh(a, "xl mem-set tg 900m")
        sh(a, "xl vcpu-set tg 2")
        sh(a, "xl migrate tg xen2")
        b_info = parse_xl_list_long(sh(b, "xl list -l tg").stdout)["tg"]["config"]["b_info"]
        assert (b_info["target_memkb"], b_info["avail_vcpus"]) == (900 * 1024, [0, 1])
        wait_for(lambda: (xl_list(b)["tg"].mem_mib, xl_list(b)["tg"].vcpus) == (900, 2), timeout=6,
                 what="the guest taking up its target at xen2")
    finally:
        for h in (a, b):
            h.run("xl destroy tg; rm -rf /.sim/xen/guests/tg")
        a.run("rm -f /shared/vm/tg.img /usr/local/etc/xen/tg.cfg")


@pytest.mark.parametrize("cut", ["target sshd", "source ssh client"])
def test_a_cut_migration_leaves_the_guest_running_at_the_source(pair, cut):
    a, b = pair.hosts["xen1"], pair.hosts["xen2"]
    sh(a, "truncate -s 1G /shared/vm/cut.img")
    a.write("/usr/local/etc/xen/cut.cfg", hvm_cfg("cut", "/shared/vm/cut.img"))
    pair.set_migrate_seconds(3, "xen1")
    try:
        sh(a, "xl create /usr/local/etc/xen/cut.cfg")
        uuid = a.domains()["cut"]["uuid"]
        thread, result = migrate_in_background(a, "xl migrate cut xen2")
        # during the transfer: still running here under its name, paused there as --incoming
        wait_for(lambda: "cut--incoming" in b.domains(), what="the incoming domain")
        assert b.domains()["cut--incoming"]["state"] == "--p---"
        assert b.domains()["cut--incoming"]["uuid"] == uuid
        assert a.domains()["cut"]["state"] == "-b----"
        assert "cut--incoming" in xl_list(b) and "cut" in xl_list(a)
        if cut == "target sshd":
            assert pair.cut_ssh("xen2") >= 1
        else:
            assert pair.cut_ssh("xen1", clients=True) >= 1
        thread.join(30)
        res = result["res"]
        # the sender's lines as the real 4.17 xl printed them when its transport was killed
        # mid-transfer (realxen step m06): the save helper dies of SIGPIPE, the transport's
        # end is reported, and resuming a domain that was never suspended fails (it runs on)
        import re as _re
        domid = a.domains()["cut"]["domid"]
        transport = ("died due to fatal signal Killed" if cut == "source ssh client"
                     else "exited with error status 255")  # ssh's status when its server dies
        got = [_re.sub(r"\[\d+\]", "[P]", line) for line in sender_lines(res)
               if not line.startswith(("xc: info: Found", "xc: info: Restoring", "Loading new", " Savefile", "Parsing config"))]
        assert got[-7:] == [
            f"libxl: error: libxl_utils.c:447:libxl_read_exactly: file/stream truncated reading ipc msg header from "
            f"domain {domid} save/restore helper stdout pipe",
            f"libxl: error: libxl_exec.c:127:libxl_report_child_exitstatus: domain {domid} save/restore helper [P] "
            "died due to fatal signal Broken pipe",
            "migration sender: libxl_domain_suspend failed (rc=-3)",
            f"libxl: info: libxl_exec.c:{127 if 'signal' in transport else 117}:libxl_report_child_exitstatus: "
            f"migration transport process [P] {transport}",
            "Migration failed, resuming at sender.",
            f"xc: error: Dom {domid} not suspended: (shutdown 0, reason 255): Internal error",
            f"libxl: error: libxl_dom_suspend.c:661:domain_resume_done: Domain {domid}:xc_domain_resume failed: Invalid argument",
        ], res.stderr
        assert res.returncode == 1
        # exactly one running copy: here, resumed; the target destroyed its incoming copy
        assert a.domains()["cut"]["state"] == "-b----" and a.domains()["cut"]["uuid"] == uuid
        wait_for(lambda: not [n for n in b.domains() if n.startswith("cut")], what="the target to clean up")
        assert not any(m.startswith("xnb") for m in b.sim_state()["interfaces"]["bridge0"])
        # a new attempt, undisturbed, succeeds
        pair.set_migrate_seconds(0.2, "xen1")
        sh(a, "xl migrate cut xen2")
        assert b.domains()["cut"]["uuid"] == uuid and "cut" not in a.domains()
    finally:
        pair.set_migrate_seconds(1)
        for h in (a, b):
            h.run("xl destroy cut")
        a.run("rm -f /shared/vm/cut.img /usr/local/etc/xen/cut.cfg")


def test_migration_refused_by_the_target(pair):
    a, b = pair.hosts["xen1"], pair.hosts["xen2"]
    pair.set_migrate_seconds(0.2)
    try:
        # a disk only the source has
        sh(a, "zfs create -p -V 1G -o volmode=dev zroot/xen/local-disk0")
        a.write("/usr/local/etc/xen/local.cfg", hvm_cfg("local", "/dev/zvol/zroot/xen/local-disk0"))
        sh(a, "xl create /usr/local/etc/xen/local.cfg")
        res = sh(a, "xl migrate local xen2", rc=1)
        assert "Disk vdev=hda failed to stat: /dev/zvol/zroot/xen/local-disk0: No such file or directory" in res.stderr
        assert "migration target: Domain creation failed (code -3)." in res.stderr
        # the sender's save helper meets the closed stream: as when cut (resuming a domain never
        # suspended fails, and it runs on)
        assert sender_lines(res)[-3] == "Migration failed, resuming at sender."
        assert "died due to fatal signal Broken pipe" in res.stderr
        assert a.domains()["local"]["state"] == "-b----" and "local--incoming" not in b.domains()
        # the same volume on both (shared storage): it moves
        pair.share_zvol("zroot/xen/local-disk0", "1G")
        sh(a, "xl migrate local xen2")
        assert "local" in b.domains()
        assert sh(b, "zfs destroy zroot/xen/local-disk0", rc=1).stderr.endswith("dataset is busy\n")
        sh(b, "xl destroy local")

        # a bridge only the source has: FreeBSD's vif-bridge fails on the target after the transfer
        sh(a, "ifconfig bridge5 create up")
        sh(a, "truncate -s 1G /shared/vm/br.img")
        a.write("/usr/local/etc/xen/br.cfg", hvm_cfg("br", "/shared/vm/br.img", bridge="bridge5"))
        sh(a, "xl create /usr/local/etc/xen/br.cfg")
        res = sh(a, "xl migrate br xen2", rc=1)
        assert "ifconfig: interface bridge5 does not exist" in res.stderr and "unable to add vif devices" in res.stderr
        assert a.domains()["br"]["state"] == "-b----" and not [n for n in b.domains() if n.startswith("br")]

        # not enough memory on the target
        free = parse_xl_info(sh(b, "xl info").stdout)["free_memory"]
        sh(a, "truncate -s 1G /shared/vm/hog.img")
        b.write("/tmp/hog.cfg", hvm_cfg("hog", "/shared/vm/hog.img", memory=free - 100))
        sh(b, "xl create /tmp/hog.cfg")
        sh(a, "truncate -s 1G /shared/vm/big.img")
        a.write("/usr/local/etc/xen/big.cfg", hvm_cfg("big", "/shared/vm/big.img", memory=512))
        sh(a, "xl create /usr/local/etc/xen/big.cfg")
        res = sh(a, "xl migrate big xen2", rc=1)
        assert "can't allocate low memory for domain: Out of memory" in res.stderr
        assert a.domains()["big"]["state"] == "-b----"
        sh(b, "xl destroy hog")

        # the name is taken on the target: it says so after the transfer, the sender resumes
        b.write("/tmp/big.cfg", hvm_cfg("big", "/shared/vm/hog.img", memory=256))
        sh(b, "xl create /tmp/big.cfg")
        res = sh(a, "xl migrate big xen2", rc=1)
        assert "migration sender: Target reports startup failure (status code 6)." in res.stderr
        assert sender_lines(res)[-2:] == ["migration sender: Resumed OK.", "Migration failed due to problems at target."]
        assert a.domains()["big"]["state"] == "-b----" and b.domains()["big"]["memory"] == "256"
        assert "big--incoming" not in b.domains() and "big--migratedaway" not in a.domains()
    finally:
        pair.set_migrate_seconds(1)
        for h in (a, b):
            h.run("for d in local br big hog; do xl destroy $d; done; zfs destroy zroot/xen/local-disk0; "
                  "rm -f /usr/local/etc/xen/*.cfg /tmp/*.cfg")
        a.run("rm -f /shared/vm/*.img; ifconfig bridge5 destroy")


# -- what each Xen's xl accepts --------------------------------------------------------------------

def test_device_model_versions_by_xen_release(dom0):
    """xl_parse.c: 4.19 knows qemu-xen and qemu-xen-traditional; 4.21 removed the latter
    (RELEASE-4.21.0 tools/xl/xl_parse.c l.2777: only "qemu-xen"); anything else:
    'Unknown device_model_version "X" specified', exit 1."""
    from simhost import Fleet

    def try_create(host, version: str):
        host.write("/tmp/dm.cfg", f'name = "dm"\ntype = "hvm"\nmemory = 64\ndevice_model_version = "{version}"\n')
        return host.run("xl create -n /tmp/dm.cfg")

    host = dom0.hosts["xen1"]
    assert try_create(host, "qemu-xen-traditional").returncode == 0
    res = try_create(host, "qemu-dm")
    assert (res.returncode, res.stderr.splitlines()[-1]) == (1, 'Unknown device_model_version "qemu-dm" specified')

    fleet = Fleet()
    try:
        new = fleet.add("xen21", "freebsd15")
        fleet.start()
        make_xen_dom0(new)
        fleet.power_cycle("xen21")
        assert new.sim_state()["kernel"] == "xen"
        assert parse_xl_info(new.run("xl info").stdout)["xen_version"].startswith("4.21.")
        assert try_create(new, "qemu-xen").returncode == 0
        res = try_create(new, "qemu-xen-traditional")
        assert res.returncode == 1
        assert res.stderr.splitlines()[-1] == 'Unknown device_model_version "qemu-xen-traditional" specified'
    finally:
        fleet.stop()


def test_uptime_of_guests_and_no_uptime_of_a_freebsd_dom0(dom0):
    """xl_info.c main_uptime: Domain-0's uptime is read from /proc/uptime, which FreeBSD has
    not: header, then "Can not get Dom0 uptime.", exit(-1) (255), and no guest is listed.
    Named guests work: "%-33s %4d %s" with uptime_to_string's "%2d:%02d:%02d"."""
    host = dom0.hosts["xen1"]
    cfg = new_guest(host, "up")
    try:
        sh(host, f"xl create {cfg}")
        domid = host.domains()["up"]["domid"]
        res = host.run("xl uptime")
        assert (res.returncode, res.stdout, res.stderr) == (255, f"{'Name':<33} {'ID':>4} Uptime\n",
                                                             "Can not get Dom0 uptime.\n")
        res = sh(host, "xl uptime up")
        header, line = res.stdout.splitlines()
        assert re.fullmatch(rf"{'up':<33} {int(domid):>4}  0:00:0\d", line), line
        assert sh(host, "xl uptime nosuch", rc=1).stderr == "nosuch is an invalid domain identifier (rc=-6)\n"
        assert sh(host, "xl uptime 999").stdout == header + "\n"  # a domid nobody has: nothing
        assert re.fullmatch(rf" \d\d:\d\d:\d\d up  0:00, up \({domid}\)\n", sh(host, "xl uptime -s up").stdout)
    finally:
        cleanup(host, "up")


def test_an_hvm_guests_vnc_port_is_in_xenstore(dom0):
    """QEMU with vncunused takes the first free display: port 5900 + N, and records it where
    `xl vncviewer` reads it (libxl_vncviewer_exec: /local/domain/N/console/vnc-port,
    vnc-listen); xen-tools' xenstore-read prints it (xs-clients/xenstore_client.c: "couldn't
    read path X" and exit 1 for a node that is not there)."""
    host = dom0.hosts["xen1"]
    names = ("v1", "v2", "v3")
    try:
        for name in names[:2]:
            sh(host, f"xl create {new_guest(host, name)}")
        ids = {n: host.domains()[n]["domid"] for n in names[:2]}
        read = "xenstore-read /local/domain/{}/console/vnc-port /local/domain/{}/console/vnc-listen"
        assert sh(host, read.format(ids["v1"], ids["v1"])).stdout == "5900\n127.0.0.1\n"
        assert sh(host, read.format(ids["v2"], ids["v2"])).stdout == "5901\n127.0.0.1\n"
        sh(host, "xl destroy v1")
        assert sh(host, read.format(ids["v1"], ids["v1"]), rc=1).stderr == (
            f"xenstore-read: couldn't read path /local/domain/{ids['v1']}/console/vnc-port\n")
        sh(host, f"xl create {new_guest(host, 'v3')}")  # the freed display is taken again
        v3 = host.domains()["v3"]["domid"]
        assert sh(host, read.format(v3, v3)).stdout == "5900\n127.0.0.1\n"
    finally:
        cleanup(host, *names)
