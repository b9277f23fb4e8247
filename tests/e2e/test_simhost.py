"""
The simulated FreeBSD host (simhost) over real sshd: what pyinfra and the deploys rely
on.  Every assertion compares with what FreeBSD/Xen print (see the tool headers in
simhost/tools/ for the sources), so a sim that drifts from them fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest

pytestmark = pytest.mark.e2e

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))

XEN_LOADER_CONF = 'xen_kernel="/boot/xen"\nxen_cmdline="dom0_mem=4096M dom0_max_vcpus=2 dom0=pvh com1=115200,8n1 guest_loglvl=all loglvl=all console=com1,vga"\n'


class Shell:
    """A paramiko connection to one simulated host."""

    def __init__(self, fleet, name: str):
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        self.client.connect(
            "127.0.0.1",
            port=fleet.hosts[name].port,
            username="root",
            key_filename=str(fleet.client_key),
            allow_agent=False,
            look_for_keys=False,
            timeout=5,
        )

    def run(self, command: str) -> tuple[int, str, str]:
        _, out, err = self.client.exec_command(command, timeout=20)
        rc = out.channel.recv_exit_status()
        return rc, out.read().decode(), err.read().decode()

    def ok(self, command: str) -> str:
        rc, out, err = self.run(command)
        assert rc == 0, f"{command!r} failed ({rc}): {err}"
        return out

    def close(self) -> None:
        self.client.close()


def pyinfra_cli(tmp_path: Path, inventory: Path, *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    # cwd=tmp_path: the repository's config.py would validate deploy data we do not pass.
    return subprocess.run(
        [PYINFRA, "-y", str(inventory), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=timeout,
        env=dict(os.environ, COLUMNS="200"),
    )


def make_dom0(host, loader_conf: str = XEN_LOADER_CONF, packages: str = "xen-kernel xen-tools") -> None:
    """Configure a host the way the Handbook does (without SSH, for speed)."""
    host.bootstrap_pkg()
    res = host.run(f"pkg install -y {packages}")
    assert res.returncode == 0, res.stderr
    host.write("/boot/loader.conf", host.read("/boot/loader.conf") + loader_conf)
    host.write("/etc/rc.conf", host.read("/etc/rc.conf") + 'xencommons_enable="YES"\n')


# -- connecting ---------------------------------------------------------------------------

def test_paramiko_pyinfra_and_sftp(sim_fleet, tmp_path):
    fleet = sim_fleet(("xen1", "freebsd14"))
    sh = Shell(fleet, "xen1")
    assert sh.ok("uname -s") == "FreeBSD\n"
    assert sh.ok("uname -a").startswith("FreeBSD xen1 14.1-RELEASE FreeBSD 14.1-RELEASE releng/14.1-")
    assert sh.ok("uname -m; uname -p; freebsd-version -k") == "amd64\namd64\n14.1-RELEASE\n"

    # SFTP (pyinfra's uploads): the file lands inside the chroot.
    sftp = sh.client.open_sftp()
    with sftp.open("/etc/uploaded.conf", "w") as f:
        f.write("hello\n")
    sftp.close()
    assert fleet.hosts["xen1"].read("/etc/uploaded.conf") == "hello\n"
    assert sh.ok("sha256 -q /etc/uploaded.conf").strip() == \
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    assert sh.ok("stat -f '%Lp %HT %z' /etc/uploaded.conf /etc").splitlines()[0] == "644 Regular File 6"

    # pyinfra with exactly the connection data the fleet hands out.
    inventory = fleet.write_inventory(tmp_path / "inventory.py")
    res = pyinfra_cli(tmp_path, inventory, "fact", "server.Kernel", "server.Os")
    assert res.returncode == 0, res.stdout + res.stderr
    assert '"xen1": "FreeBSD"' in res.stdout + res.stderr
    src = tmp_path / "motd"
    src.write_text("simulated\n")
    res = pyinfra_cli(tmp_path, inventory, "files.put", f"src={src}", "dest=/etc/motd.template")
    assert res.returncode == 0, res.stdout + res.stderr
    assert fleet.hosts["xen1"].read("/etc/motd.template") == "simulated\n"


# -- sysctl -------------------------------------------------------------------------------

def test_sysctl_wired_knob_per_release(sim_fleet):
    fleet = sim_fleet(("old", "freebsd12"), ("new", "freebsd14"))
    old, new = Shell(fleet, "old"), Shell(fleet, "new")

    rc, out, err = old.run("sysctl vm.max_user_wired")
    assert (rc, out, err) == (1, "", "sysctl: unknown oid 'vm.max_user_wired'\n")
    assert old.ok("sysctl -n vm.max_wired").strip().isdigit()
    rc, out, err = new.run("sysctl -n vm.max_wired")
    assert (rc, err) == (1, "sysctl: unknown oid 'vm.max_wired'\n")
    assert new.ok("sysctl -i vm.max_wired") == ""  # -i: unknown oids are ignored

    before = new.ok("sysctl -n vm.max_user_wired").strip()
    assert new.ok("sysctl vm.max_user_wired=-1") == f"vm.max_user_wired: {before} -> -1\n"
    assert new.ok("sysctl -e vm.max_user_wired kern.ostype") == "vm.max_user_wired=-1\nkern.ostype=FreeBSD\n"
    assert new.run("sysctl hw.ncpu=2")[1:] == ("", "sysctl: oid 'hw.ncpu' is read only\n")
    assert new.run("sysctl vm.max_user_wired=lots")[2] == "sysctl: invalid integer 'lots'\n"
    assert new.ok("sysctl -n hw.machine_arch machdep.bootmethod kern.vm_guest") == "amd64\nBIOS\nnone\n"
    boottime = new.ok("sysctl -n kern.boottime")
    assert boottime.startswith("{ sec = ") and ", usec = 0 } " in boottime


def test_sysctl_conf_applied_and_runtime_values_reset_at_boot(sim_fleet):
    fleet = sim_fleet(("xen1", "freebsd13"))
    host = fleet.hosts["xen1"]
    host.run("sysctl security.bsd.see_other_uids=0")
    host.write("/etc/sysctl.conf", "vm.max_user_wired=-1  # for Xen\nhw.ncpu=1\n")
    res = host.run("sysctl hw.pci.mcfg=0")
    assert res.stderr == "sysctl: oid 'hw.pci.mcfg' is a read only tunable\nsysctl: Tunable values are set in /boot/loader.conf\n"
    host.write("/boot/loader.conf", host.read("/boot/loader.conf") + 'hw.pci.mcfg="0"\n')
    fleet.power_cycle("xen1")
    assert host.run("sysctl -n hw.pci.mcfg").stdout == "0\n"
    live = host.sim_state()["sysctl"]
    assert live["vm.max_user_wired"] == "-1"
    assert live["security.bsd.see_other_uids"] == "1"  # runtime change forgotten
    assert "sysctl: oid 'hw.ncpu' is read only at line 2" in host.read("/var/log/messages")


# -- Xen before/after the reboot ------------------------------------------------------------

def test_xl_fails_like_xl_without_xen(sim_fleet):
    fleet = sim_fleet(("xen1", "freebsd14"))
    sh = Shell(fleet, "xen1")
    assert sh.run("xl list")[0] == 127  # xen-tools not installed yet
    fleet.hosts["xen1"].bootstrap_pkg()
    sh.ok("pkg install -y xen-kernel xen-tools")
    for sub in ("list", "info", "create /dev/null"):
        rc, out, err = sh.run(f"xl {sub}")
        assert rc == 1 and out == ""
        assert err.splitlines() == [
            "xencall: error: Could not obtain handle on privileged command interface /dev/xen/privcmd: No such file or directory",
            "libxl: error: libxl.c:102:libxl_ctx_alloc: cannot open libxc handle: No such file or directory",
            "cannot init xl context",
        ]


def test_reboot_into_xen_over_ssh(sim_fleet, tmp_path):
    fleet = sim_fleet(("xen1", "freebsd14"))
    host = fleet.hosts["xen1"]
    sh = Shell(fleet, "xen1")
    host.bootstrap_pkg()
    sh.ok("pkg install -y xen-kernel xen-tools")
    assert host.exists("/boot/xen") and host.exists("/usr/local/etc/rc.d/xencommons")
    sftp = sh.client.open_sftp()
    with sftp.open("/boot/loader.conf", "a") as f:
        f.write(XEN_LOADER_CONF)
    sftp.close()
    sh.ok("sysrc xencommons_enable=YES")
    assert sh.ok("grep -c VT-x: /var/run/dmesg.boot") == "1\n"
    assert "DMAR" in sh.ok("acpidump -t")

    # pyinfra's own reboot: detached reboot, reconnect, uptime check.
    inventory = fleet.write_inventory(tmp_path / "inventory.py")
    started = time.monotonic()
    res = pyinfra_cli(tmp_path, inventory, "server.reboot", "delay=3", "interval=0.5")
    assert res.returncode == 0, res.stdout + res.stderr
    assert time.monotonic() - started < 20
    with pytest.raises((paramiko.SSHException, EOFError, OSError)):
        sh.run("true")  # the old connection died with the host

    state = host.sim_state()
    assert state["boot_count"] == 2 and state["kernel"] == "xen"
    sh = Shell(fleet, "xen1")
    lines = sh.ok("xl list").splitlines()
    assert lines[0] == "Name                                        ID   Mem VCPUs\tState\tTime(s)"
    assert lines[1].split()[:5] == ["Domain-0", "0", "4096", "2", "r-----"]
    assert lines[1].startswith("Domain-0" + " " * 32 + "     0  4096     2     r-----  ")
    info = dict(line.split(" : ", 1) for line in sh.ok("xl info").splitlines())
    assert info["host                  "] == "xen1"
    assert info["virt_caps             "] == "pv hvm hvm_directio pv_directio hap shadow iommu_hap_pt_share gnttab-v1 gnttab-v2"
    assert info["xen_version           "] == "4.19.1"
    assert info["xen_commandline       "] == XEN_LOADER_CONF.split('xen_cmdline="')[1].rstrip('"\n')
    assert int(info["free_memory           "]) == int(info["total_memory          "]) - 4096
    assert sh.ok("sysctl -n kern.vm_guest hw.ncpu hw.physmem") == "xen\n2\n4294967296\n"
    assert sh.run("grep -c VT-x: /var/run/dmesg.boot")[1] == "0\n"  # Xen hides VMX from Dom0
    assert "DMAR" not in sh.ok("acpidump -t")  # ...and the IOMMU tables
    assert sh.ok("service xencommons status").startswith("xenstored is running")


@pytest.mark.parametrize(
    "variant, cmdline, why",
    [
        ("freebsd14", "dom0_mem=2048M dom0pvh=1", "needs 'dom0=pvh'"),  # 4.7 syntax on 4.19
        ("freebsd11-xen47", "dom0_mem=2048M dom0=pvh", "needs 'dom0pvh=1'"),  # 4.19 syntax on 4.7
        ("uefi13", "dom0_mem=2048M dom0=pvh", "UEFI loader"),
        ("no-slat", "dom0_mem=2048M dom0=pvh", "requires HAP"),
        ("no-iommu", "dom0_mem=2048M dom0=pvh", "requires an IOMMU"),
        ("virt-disabled", "dom0_mem=2048M dom0=pvh", "VMX disabled by BIOS"),
    ],
)
def test_xen_refuses_to_start_dom0(sim_fleet, variant, cmdline, why):
    fleet = sim_fleet(("xen1", variant))
    host = fleet.hosts["xen1"]
    pkgs = "xen-kernel47 xen-tools47" if variant == "freebsd11-xen47" else "xen-kernel xen-tools"
    make_dom0(host, f'xen_kernel="/boot/xen"\nxen_cmdline="{cmdline}"\n', pkgs)
    fleet.power_cycle("xen1")
    state = host.sim_state()
    assert state["kernel"] == "freebsd" and state["vm_guest"] == "none"
    assert why in state["xen_failure"] and why in host.read("/var/log/messages")
    rc, _, err = Shell(fleet, "xen1").run("xl list")
    assert rc == 1 and err.endswith("cannot init xl context\n")
    # xencommons is enabled but cannot start outside Xen; rc sources the script, so rc.subr's
    # warn() names /etc/rc, as on a real console
    assert "xencommons: /etc/rc: WARNING: /dev/xen/xenstore is not readable." in host.read("/var/log/messages")


def test_xen47_on_freebsd11_and_uefi14(sim_fleet):
    fleet = sim_fleet(("old", "freebsd11-xen47"), ("efi", "uefi14"))
    make_dom0(fleet.hosts["old"], 'xen_kernel="/boot/xen"\nxen_cmdline="dom0_mem=2G,max:3G dom0pvh=1"\n',
              "xen-kernel47 xen-tools47")
    assert fleet.hosts["old"].exists("/boot/xen.4th")
    make_dom0(fleet.hosts["efi"])
    for name in ("old", "efi"):
        fleet.power_cycle(name)
    old = fleet.hosts["old"].sim_state()
    assert (old["kernel"], old["xen_version"], old["dom0_memory_mib"], old["dom0_maxmem_mib"]) == ("xen", "4.7.2", 2048, 3072)
    assert old["dom0_vcpus"] == 8  # no dom0_max_vcpus: all CPUs
    info = Shell(fleet, "old").ok("xl info")
    assert "virt_caps              : hvm hvm_directio\n" in info and "xen_scheduler          : credit\n" in info
    assert fleet.hosts["efi"].sim_state()["kernel"] == "xen"
    # 4.7's xl (xl_cmdimpl.c l.1367-1370): "type" is no key; builder is HVM for a prefix of
    # "hvm" and PV for anything else, without complaint
    old = Shell(fleet, "old")
    fleet.hosts["old"].write("/tmp/b.cfg", 'name = "b"\nbuilder = "kvm"\nmemory = 64\n')
    assert old.run("xl create -n /tmp/b.cfg")[2].endswith("Neither kernel nor bootloader specified\n")
    fleet.hosts["old"].write("/tmp/b.cfg", 'name = "b"\nbuilder = "hv"\ntype = "pv"\nmemory = 64\n')
    assert old.run("xl create -n /tmp/b.cfg")[0] == 0


def test_dom0_mem_and_vcpu_changes(sim_fleet):
    fleet = sim_fleet(("xen1", "freebsd14"))
    make_dom0(fleet.hosts["xen1"], 'xen_kernel="/boot/xen"\nxen_cmdline="dom0_mem=4096M,max:6144M dom0_max_vcpus=2 dom0=pvh"\n')
    fleet.power_cycle("xen1")
    sh = Shell(fleet, "xen1")
    sh.ok("xl mem-set Domain-0 5120m")
    assert sh.run("xl mem-set 0 8g")[0] == 1
    # more vCPUs than the host has: xl refuses before libxl (xl_vcpu.c), unless --ignore-host
    assert sh.run("xl vcpu-set Domain-0 16")[2] == (
        "You are overcommmitting! You have 8 physical CPUs and want 16 vCPUs! Aborting, use --ignore-host to continue\n")
    assert "Requested 16 VCPUs, however maxcpus is 8!" in sh.run("xl vcpu-set --ignore-host Domain-0 16")[2]
    sh.ok("xl vcpu-set 0 4")
    time.sleep(1.1)  # the Dom0's balloon driver and its vCPU hotplug act a moment later
    assert sh.ok("xl list 0").splitlines()[1].split()[1:4] == ["0", "5120", "4"]
    assert sh.run("xl list nosuch")[2] == "nosuch is an invalid domain identifier (rc=-6)\n"


# -- the wired-memory rule of xl create ----------------------------------------------------

def test_xl_create_needs_unlimited_wired_memory(sim_fleet):
    fleet = sim_fleet(("xen1", "freebsd12"))
    host = fleet.hosts["xen1"]
    make_dom0(host, 'xen_kernel="/boot/xen"\nxen_cmdline="dom0_mem=4096M dom0_max_vcpus=2 dom0=pvh"\n', "xen-kernel411 xen-tools411")
    fleet.power_cycle("xen1")
    sh = Shell(fleet, "xen1")
    sh.ok("printf 'name = \"g1\"\\ntype = \"hvm\"\\nmemory = 1024\\nvcpus = 2\\n' > /usr/local/etc/xen/g1.cfg")

    def create():
        return sh.run("xl create /usr/local/etc/xen/g1.cfg")

    rc, _, err = create()
    # xl create exits 3 (-ERROR_FAIL); Xen made no domain, so no "Domain N:" and no destroy
    assert rc == 3 and "Cannot allocate memory" in err and err.startswith("Parsing config from /usr/local/etc/xen/g1.cfg\n")
    assert "Domain " not in err and "Destruction of domain failed" not in err
    sh.ok("sysctl vm.max_wired=-1")  # FreeBSD 12: the old name
    assert create()[0] == 3  # login.conf still has memorylocked=64K
    sh.ok("sed -i '' -e 's/:memorylocked=64K:/:memorylocked=unlimited:/' /etc/login.conf")
    assert create()[0] == 3  # edited but not compiled
    sh.ok("cap_mkdb /etc/login.conf")
    sh.ok("mkdir -p /var/log/xen")  # the Handbook's step: the domain's xl daemon logs there
    rc, out, err = create()
    assert rc == 0, err
    assert sh.ok("xl list g1").splitlines()[1].split()[:5] == ["g1", "1", "1024", "2", "-b----"]
    assert host.sim_state()["domains"]["g1"]["cfg"] == "/usr/local/etc/xen/g1.cfg"


def test_cap_mkdb_refuses_a_broken_file(sim_fleet):
    fleet = sim_fleet(("xen1", "freebsd14"))
    host = fleet.hosts["xen1"]
    host.write("/etc/login.conf", "default:\\\n\t:memorylocked=unlimited:\\\n")
    res = host.run("cap_mkdb /etc/login.conf")
    assert res.returncode == 1 and res.stderr == "cap_mkdb: /etc/login.conf: Inappropriate file type or format\n"


# -- pkg --------------------------------------------------------------------------------------

def test_a_fresh_freebsd_has_only_the_pkg_bootstrapper(sim_fleet):
    # usr.sbin/pkg/pkg.c main(): without /usr/local/sbin/pkg, -N says so, and anything else
    # bootstraps only with ASSUME_ALWAYS_YES (or a tty's "y"): pkg install's own -y is not read
    fleet = sim_fleet(("xen1", "freebsd14"))
    host = fleet.hosts["xen1"]
    res = host.run("pkg -N")
    assert (res.returncode, res.stdout, res.stderr) == (1, "", "pkg: pkg is not installed\n")
    res = host.run("pkg install -y xen-kernel </dev/null")
    assert res.returncode == 1 and res.stderr == (
        "The package management tool is not yet installed on your system.\n"
        "Please set ASSUME_ALWAYS_YES=yes environment variable to be able to bootstrap in non-interactive "
        "(stdin not being a tty)\n")
    assert not host.exists("/usr/local/sbin/pkg") and not host.exists("/boot/xen")
    res = host.run("env ASSUME_ALWAYS_YES=yes pkg bootstrap")
    assert res.returncode == 0 and res.stdout.startswith(
        "Bootstrapping pkg from pkg+https://pkg.FreeBSD.org/FreeBSD:14:amd64/quarterly, please wait...\n")
    assert host.exists("/usr/local/sbin/pkg")
    assert host.run("pkg bootstrap").stdout == "pkg already bootstrapped at /usr/local/sbin/pkg\n"
    assert host.run("pkg -N").returncode == 0
    assert host.run("pkg query '%n %o'").stdout == "pkg ports-mgmt/pkg\n"
    assert host.run("pkg install -y xen-kernel").returncode == 0 and host.exists("/boot/xen")


def test_pkg_repository_rules(sim_fleet):
    fleet = sim_fleet(("new", "freebsd14"), ("old", "freebsd11-xen47"), ("x86", "i386"))
    new, old, x86 = (fleet.hosts[n] for n in ("new", "old", "x86"))
    missing = "pkg: No packages available to install matching '{}' have been found in the repositories\n"
    for host in (new, old, x86):
        host.bootstrap_pkg()

    res = old.run("pkg install -y xen-kernel xen-tools")
    assert res.returncode == 1 and res.stderr == missing.format("xen-kernel") + missing.format("xen-tools")
    assert not old.exists("/boot/xen")
    res = x86.run("pkg install -y xen-kernel")
    assert res.returncode == 1 and res.stderr == missing.format("xen-kernel")
    res = new.run("pkg install -y xen-kernel47")
    assert res.returncode == 1 and res.stderr == missing.format("xen-kernel47")

    res = new.run("pkg install -y xen-tools411 xen-tools")  # both ship /usr/local/sbin/xl
    assert res.returncode == 1 and "conflicts with" in res.stderr and not new.exists("/usr/local/sbin/xl")

    assert new.run("pkg install -y xen-tools411").returncode == 0
    assert new.run("pkg query '%n %v' xen-tools411").stdout == "xen-tools411 4.11.4_5\n"
    # pkg-query(8): every installed package without names; a missing name fails, the rest print
    assert new.run("pkg query '%n-%v %o [%c] %p 100%%'").stdout == (
        "pkg-1.21.3 ports-mgmt/pkg [Package manager] /usr/local 100%\n"
        "xen-tools411-4.11.4_5 sysutils/xen-tools411 [Xen management tools] /usr/local 100%\n")
    res = new.run("pkg query %n nosuch xen-tools411")
    assert (res.returncode, res.stdout) == (1, "xen-tools411\n")
    assert new.run("pkg rquery '%n %o' xen-kernel").stdout == "xen-kernel emulators/xen-kernel\n"
    assert new.run("pkg info -e xen-tools").returncode == 1
    res = new.run("pkg install -y xen-tools")  # replaces the 4.11 tools
    assert res.returncode == 0 and "Installed packages to be REMOVED:\n\txen-tools411: 4.11.4_5" in res.stdout
    assert new.run("pkg info -e xen-tools411").returncode == 1
    assert 'XL_VERSION="4.19.1"' in new.read("/usr/local/sbin/xl")
    assert new.run("pkg install -y xen-tools").stdout.endswith("The most recent versions of packages are already installed\n")
    assert set(new.sim_state()["packages"]) == {"pkg", "xen-tools"}


# -- hardware as the Dom0 deploy sees it --------------------------------------------------

def test_cpu_and_iommu_per_variant(sim_fleet):
    fleet = sim_fleet(("amd", "amd"), ("noslat", "no-slat"), ("off", "virt-disabled"), ("nommu", "no-iommu"), ("efi", "uefi14"))
    cpu = {n: h.run("grep -E 'Origin=|VT-x:|SVM:' /var/run/dmesg.boot").stdout for n, h in fleet.hosts.items()}
    acpi = {n: h.run("acpidump -t").stdout for n, h in fleet.hosts.items()}
    assert 'Origin="AuthenticAMD"' in cpu["amd"] and "SVM: NP,NRIP" in cpu["amd"] and "  IVRS: Length=" in acpi["amd"]
    assert "VT-x: PAT,HLT,MTF,PAUSE,VPID\n" in cpu["noslat"]
    assert "VT-x: (disabled in BIOS) PAT," in cpu["off"]
    assert "DMAR" not in acpi["nommu"] and "  DMAR: Length=" in acpi["off"]
    assert fleet.hosts["efi"].run("sysctl -n machdep.bootmethod").stdout == "UEFI\n"
    assert fleet.hosts["amd"].run("acpidump").returncode == 1  # needs -t/-d/-o


def test_bridges_from_rc_conf(sim_fleet):
    fleet = sim_fleet(("new", "freebsd14"), ("old", "freebsd12"))
    new, old = fleet.hosts["new"], fleet.hosts["old"]
    new.write("/etc/rc.conf", new.read("/etc/rc.conf") + 'cloned_interfaces="bridge0"\nifconfig_bridge0="addm em0 SYNCDHCP"\n')
    old.write("/etc/rc.conf", old.read("/etc/rc.conf") + 'cloned_interfaces="bridge0"\nautobridge_interfaces="bridge0"\nautobridge_bridge0="em*"\n')
    for name in ("new", "old"):
        fleet.power_cycle(name)
        host = fleet.hosts[name]
        assert host.run("ifconfig -l").stdout == "em0 lo0 bridge0\n"
        assert "\tmember: em0 flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>\n" in host.run("ifconfig bridge0").stdout
        assert "if_bridge.ko" in host.run("kldstat").stdout
    res = new.run("ifconfig bridge1")
    assert (res.returncode, res.stderr) == (1, "ifconfig: interface bridge1 does not exist\n")


def test_poweroff_and_stop_cleans_up(sim_fleet):
    fleet = sim_fleet(("xen1", "freebsd14"))
    host = fleet.hosts["xen1"]
    sh = Shell(fleet, "xen1")
    assert sh.ok("shutdown -p now") == "Shutdown NOW!\n"
    deadline = time.monotonic() + 10
    while not host.sim_state()["powered_off"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert host.sim_state()["powered_off"]
    with pytest.raises(Exception):
        Shell(fleet, "xen1")
    fleet.power_on("xen1")
    assert Shell(fleet, "xen1").ok("hostname") == "xen1\n"
    root = host.root
    fleet.stop()
    assert not root.exists()


def test_base_tools_behave_like_freebsd(sim_fleet):
    fleet = sim_fleet(("xen1", "freebsd14"))
    host = fleet.hosts["xen1"]
    sh = Shell(fleet, "xen1")
    # sed: -i takes the backup extension as its own argument
    sh.ok("printf 'a=1\\n' > /etc/t.conf; sed -i '' -e 's/1/2/' /etc/t.conf")
    assert host.read("/etc/t.conf") == "a=2\n" and not host.exists("/etc/t.conf''")
    assert sh.run("sed -i 's/2/3/' /etc/t.conf")[0] != 0 and host.read("/etc/t.conf") == "a=2\n"
    # stat -f
    assert sh.ok("stat -f '%Sp %Su:%Sg %HT' /etc /boot/loader.conf") == "drwxr-xr-x root:wheel Directory\n-rw-r--r-- root:wheel Regular File\n"
    assert sh.run("stat -f %Lp /var/log/xen") == (1, "", "stat: /var/log/xen: lstat: No such file or directory\n")
    sh.ok("touch -t 202402291305.09 /etc/t.conf")
    assert sh.ok("stat -t %Y-%m-%dT%H:%M:%S -f '%Sm %N' /etc/t.conf") == "2024-02-29T13:05:09 /etc/t.conf\n"
    # sysrc / service / rc.subr
    assert sh.ok("sysrc -n hostname; sysrc sshd_enable") == "xen1\nsshd_enable: YES\n"
    assert sh.run("sysrc -n xencommons_enable") == (1, "", "sysrc: unknown variable 'xencommons_enable'\n")
    assert sh.run("service nosuch start")[0] == 1
    sh.ok("env ASSUME_ALWAYS_YES=yes pkg install -y xen-tools")  # bootstraps pkg first
    assert sh.ok("service xencommons start") == \
        "Cannot 'start' xencommons. Set xencommons_enable to YES in /etc/rc.conf or use 'onestart' instead of 'start'.\n"
    rc, _, err = sh.run("service xencommons onestart")
    assert rc == 1 and err == "/usr/local/etc/rc.d/xencommons: WARNING: /dev/xen/xenstore is not readable.\n"
    # cap_mkdb leaves a database that is newer than its source, as test(1) -nt sees it
    sh.ok("cap_mkdb /etc/login.conf")
    assert sh.run("test /etc/login.conf.db -nt /etc/login.conf")[0] == 0
    assert sh.ok("kldstat -q -n vmm || echo absent") == "absent\n"
