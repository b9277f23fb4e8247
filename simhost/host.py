"""One simulated FreeBSD host: a directory tree that sshd serves with ChrootDirectory.

Layout of the root (FreeBSD paths, busybox underneath):
    /bin/busybox + applet symlinks, /bin/sh (busybox ash), /bin/bash (tiny sh wrapper,
    because root's login shell on the real machine is /bin/bash)
    fake FreeBSD tools from simhost/tools/ at their FreeBSD paths (see TOOLS)
    /etc: rc.conf, loader.conf (/boot), sysctl.conf, login.conf(.db), ttys, rc.subr, ...
    /.sim: simulator state (see simhost/lib/common.sh); the product must never read it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import time
from pathlib import Path

from . import hardware, packages
from .variants import Variant, get_variant

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "fixtures" / "freebsd"
BUSYBOX = Path("/bin/busybox")

# fake tool -> where FreeBSD keeps it
TOOLS = {
    "uname": "/usr/bin/uname",
    "freebsd-version": "/bin/freebsd-version",
    "hostname": "/bin/hostname",
    "sysctl": "/sbin/sysctl",
    "sysrc": "/usr/sbin/sysrc",
    # /usr/sbin/pkg is pkg(7), the bootstrapper; pkg itself is installed by the first
    # bootstrap (from /.sim/pkg/pkg-static) at /usr/local/sbin/pkg
    "pkg-bootstrap": "/usr/sbin/pkg",
    "pkg": "/.sim/pkg/pkg-static",
    "cap_mkdb": "/usr/bin/cap_mkdb",
    "service": "/usr/sbin/service",
    "kldstat": "/sbin/kldstat",
    "acpidump": "/usr/sbin/acpidump",
    "ifconfig": "/sbin/ifconfig",
    "stat": "/usr/bin/stat",
    "sha256": "/sbin/sha256",
    "reboot": "/sbin/reboot",
    "shutdown": "/sbin/shutdown",
    "dmesg": "/sbin/dmesg",
    "sed": "/usr/bin/sed",
    "zfs": "/sbin/zfs",
    "fetch": "/usr/bin/fetch",
    "truncate": "/usr/bin/truncate",
    "timeout": "/usr/bin/timeout",
    "date": "/bin/date",
    "od": "/usr/bin/od",
}

# busybox applets that behave close enough to FreeBSD's base tools.  Linux-only tools
# (ip, free, lsmod, mount reading /proc, ...) are deliberately absent.
APPLETS = """
[ awk basename bzip2 bunzip2 cat chgrp chmod chown chroot cmp cp cpio cut dd diff
dirname du echo egrep env expand expr false fgrep find fold getopt grep gunzip gzip head
hexdump id kill less ln logger ls md5sum mkdir mkfifo mktemp more mv nl paste patch
printf pwd readlink realpath rev rm rmdir seq sh sha1sum sha256sum sha512sum sleep
sort split stty sync tac tail tar tee test time touch tr true tty
unexpand uniq unxz uudecode uuencode vi wc which whoami xargs xz xzcat yes zcat
""".split()

DIRS = """
bin sbin boot boot/kernel dev etc etc/defaults etc/rc.d etc/rc.conf.d etc/ssh root tmp
usr/bin usr/sbin usr/lib usr/libexec usr/share usr/local/bin usr/local/sbin
usr/local/etc/rc.d usr/local/lib var/db/pkg var/log var/run var/tmp var/cache/pkg
.sim/lib .sim/hw .sim/power .sim/sysctl .sim/xen/domains .sim/pkg/installed .sim/net
.sim/capdb .sim/state .sim/run .sim/zfs .sim/mirror
""".split()


def _sh_env(values: dict[str, object]) -> str:
    return "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in values.items())


class SimHost:
    """A simulated FreeBSD host rooted at `root`, reachable over SSH on `port`."""

    def __init__(self, name: str, variant: Variant | str, root: Path, port: int = 0):
        self.name = name
        self.variant = get_variant(variant)
        self.root = Path(root)
        self.port = port

    def __repr__(self) -> str:
        return f"SimHost({self.name!r}, {self.variant.name!r}, port={self.port})"

    # -- file access (host-side view of the chroot) ------------------------------------
    def path(self, p: str | os.PathLike) -> Path:
        """Host path of the file that is `p` inside the simulated host."""
        return self.root / str(p).lstrip("/")

    def read(self, p: str) -> str:
        return self.path(p).read_text()

    def exists(self, p: str) -> bool:
        return os.path.lexists(self.path(p))

    def write(self, p: str, content: str, mode: int = 0o644) -> None:
        dest = self.path(p)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(content)
        dest.chmod(mode)

    # -- running things inside ----------------------------------------------------------
    def run(self, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a shell command inside the host (chroot, no SSH): for boot scripts and tests."""
        return subprocess.run(
            ["chroot", str(self.root), "/bin/sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"PATH": "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin", "HOME": "/root"},
        )

    def boot(self) -> None:
        """Power-on: loader, Xen or not, kernel, rc.  sshd must be (re)started by the caller."""
        # No tight limit: rc.d scripts may take their time, as on a real boot
        # (xendomains_delay between guests, for one).
        res = self.run("/bin/sh /.sim/lib/boot", timeout=900)
        if res.returncode != 0:
            raise RuntimeError(f"{self.name}: boot script failed: {res.stderr}")

    def shutdown(self, timeout: float | None = None) -> None:
        """init's part of shutdown(8) -r/-p: rc.shutdown (the `KEYWORD: shutdown` rc.d
        scripts get faststop) under its rcshutdown_timeout watchdog and init's
        kern.init_shutdown_timeout (see lib/shutdown).  Blocks until rc.shutdown is done or
        cut; what it left running is killed by the caller (init kills every process).
        Its output does not go through a pipe: a script it left behind would hold one open."""
        proc = subprocess.Popen(
            ["chroot", str(self.root), "/bin/sh", "/.sim/lib/shutdown", "reboot"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={"PATH": "/sbin:/bin:/usr/sbin:/usr/bin", "HOME": "/"},
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def power_off_guests(self) -> None:
        """The power goes: every Xen guest dies with the machine (no graceful anything).
        Each end goes to /.sim/xen/ended: "poweroff", or "shutdown" for a guest that had
        completed its shutdown and only lingered (see domain_ends())."""
        base = self.path("/.sim/xen/domains")
        if not base.is_dir():
            return
        now_ms = int(time.time() * 1000)
        ends = []
        for d in sorted(base.iterdir()):
            if d.name == "Domain-0" or not d.is_dir():
                continue
            try:
                domid = (d / "domid").read_text().strip()
            except OSError:
                domid = ""
            if domid:
                try:
                    done = int((d / "shutdown_at_ms").read_text()) <= now_ms
                except (OSError, ValueError):
                    done = False
                ends.append(f"{now_ms} {d.name} {domid} {'shutdown' if done else 'poweroff'}\n")
            shutil.rmtree(d, ignore_errors=True)
        if ends:
            with open(self.path("/.sim/xen/ended"), "a") as f:
                f.writelines(ends)

    def domain_ends(self) -> list[dict]:
        """How each guest domain went away, oldest first (kept across reboots): dicts with
        name, domid, how ("shutdown": it completed a shutdown, then was destroyed;
        "destroy": xl destroy; "migrated": it left by xl migrate; "poweroff": it died
        with the Dom0's power) and ms (epoch milliseconds)."""
        try:
            text = self.read("/.sim/xen/ended")
        except FileNotFoundError:
            return []
        ends = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 4:
                ends.append({"ms": int(parts[0]), "name": parts[1], "domid": int(parts[2]), "how": parts[3]})
        return ends

    def take_power_request(self) -> tuple[str, str] | None:
        """Return and clear what reboot(8)/shutdown(8) asked for: (action, via) with action
        "reboot" or "poweroff" and via "shutdown(8)" (init runs rc.shutdown first) or
        "reboot(8)" (processes are killed at once, no rc.shutdown)."""
        req = self.path("/.sim/power/request")
        try:
            words = req.read_text().split()
        except FileNotFoundError:
            return None
        req.unlink(missing_ok=True)
        action = words[0] if words else "reboot"
        via = words[1] if len(words) > 1 else "reboot(8)"
        return action, via

    # -- build --------------------------------------------------------------------------
    def build(self) -> None:
        """Create a fresh root (removes any previous one).  Does not boot it."""
        v = self.variant
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        os.chmod(self.root, 0o755)
        for d in DIRS:
            self.path(d).mkdir(parents=True, exist_ok=True)
        os.chmod(self.path("tmp"), 0o1777)
        os.chmod(self.path("var/tmp"), 0o1777)
        os.chmod(self.path("root"), 0o700)
        self._install_busybox()
        self._install_shell()
        self._install_ssh()
        self._make_devices()
        self._install_tools()
        self._write_variant_env()
        self._write_hardware()
        self._write_etc()
        packages.write_repository(self.root, v)
        self._write_zfs()
        # The stock login.conf is compiled at install time, like bsdinstall does.
        res = self.run("cap_mkdb /etc/login.conf")
        if res.returncode != 0:
            raise RuntimeError(f"{self.name}: cap_mkdb failed at build: {res.stderr}")

    def _install_busybox(self) -> None:
        shutil.copy2(BUSYBOX, self.path("bin/busybox"))
        os.chmod(self.path("bin/busybox"), 0o755)
        for applet in APPLETS:
            os.symlink("busybox", self.path(f"bin/{applet}"))
        # root's login shell on the real machine is /bin/bash; busybox has no bash applet.
        self.write("/bin/bash", '#!/bin/sh\nexec /bin/sh "$@"\n', 0o755)
        # FreeBSD keeps env/which/... in /usr/bin; scripts using absolute paths find them.
        for name in ("env", "which", "awk", "grep", "tr", "cut", "sort", "head", "tail", "true", "false"):
            os.symlink("/bin/busybox", self.path(f"usr/bin/{name}"))

    def _install_shell(self) -> None:
        """/bin/sh is dash (an Almquist shell, like FreeBSD's sh), not busybox ash: this
        busybox is built with "prefer applets", so its ash would run its own uname,
        sysctl, stat, ifconfig ... instead of the fake FreeBSD tools found on PATH."""
        dash = Path(shutil.which("dash") or "/bin/dash")
        self.path("bin/sh").unlink(missing_ok=True)
        shutil.copy2(dash, self.path("bin/sh"))
        out = subprocess.run(["ldd", str(dash)], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            lib = next((p for p in parts if p.startswith("/")), None)
            if lib:
                dest = self.path(lib)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(os.path.realpath(lib), dest)

    @staticmethod
    def _copy_with_libs(binary: str, dest_root: "SimHost") -> None:
        """Copy a dynamically linked binary and the shared libraries ldd lists into the root."""
        real = Path(shutil.which(binary) or binary)
        dest = dest_root.path(str(real))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(real), dest)
        out = subprocess.run(["ldd", str(real)], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            lib = next((p for p in line.split() if p.startswith("/")), None)
            if lib and not dest_root.path(lib).exists():
                target = dest_root.path(lib)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(os.path.realpath(lib), target)

    def _install_ssh(self) -> None:
        """OpenSSH's client (FreeBSD keeps it at /usr/bin/ssh too) for xl migrate between
        simulated hosts; Fleet writes /etc/ssh/ssh_config and root's key."""
        self._copy_with_libs("/usr/bin/ssh", self)
        self.write("/etc/nsswitch.conf", "group: files\nhosts: files\npasswd: files\nservices: files\n")
        self.write("/etc/hosts", "::1\t\tlocalhost localhost.my.domain\n127.0.0.1\t\tlocalhost localhost.my.domain\n")
        self.path("/root/.ssh").mkdir(parents=True, exist_ok=True)
        os.chmod(self.path("/root/.ssh"), 0o700)

    def bootstrap_pkg(self) -> None:
        """What an admin does once on a fresh FreeBSD: ``env ASSUME_ALWAYS_YES=yes pkg bootstrap``."""
        res = self.run("env ASSUME_ALWAYS_YES=yes pkg bootstrap")
        if res.returncode != 0:
            raise RuntimeError(f"{self.name}: pkg bootstrap failed: {res.stderr}")

    def _make_devices(self) -> None:
        for name, minor in (("null", 3), ("zero", 5), ("random", 8), ("urandom", 9)):
            os.mknod(self.path(f"dev/{name}"), 0o666 | stat.S_IFCHR, os.makedev(1, minor))
            os.chmod(self.path(f"dev/{name}"), 0o666)

    def _install_tools(self) -> None:
        for tool, dest in TOOLS.items():
            target = self.path(dest)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / "tools" / tool, target)
            os.chmod(target, 0o555)
        for lib in ("common.sh", "boot", "rc", "shutdown", "rc.shutdown", "rcorder", "xlcfg.awk"):
            shutil.copyfile(HERE / "lib" / lib, self.path(f".sim/lib/{lib}"))
        files = HERE / "files"
        for src in files.rglob("*"):
            if src.is_file():
                dest = self.path(src.relative_to(files))
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
                os.chmod(dest, 0o644)

    def _write_variant_env(self) -> None:
        v = self.variant
        rel = hardware.release_info(v)
        env = {
            "SIM_HOSTNAME": self.name,
            "SIM_VARIANT": v.name,
            "SIM_FREEBSD": v.freebsd,
            "SIM_MAJOR": v.major,
            "SIM_ARCH": v.arch,
            "SIM_CPU_VENDOR": v.cpu_vendor,
            "SIM_SLAT": int(v.slat),
            "SIM_VIRT_DISABLED": int(v.virt_disabled_in_bios),
            "SIM_IOMMU": int(v.iommu),
            "SIM_BOOT_METHOD": v.boot_method,
            "SIM_MEMORY_MIB": v.memory_mib,
            "SIM_NCPUS": v.ncpus,
            "SIM_INTERFACES": " ".join(v.interfaces),
            "SIM_KERNEL_VERSION": rel["kernel_version"],
            "SIM_OSRELDATE": rel["osreldate"],
            "SIM_BUILD_ID": rel["kernel_version"].split()[2] if len(rel["kernel_version"].split()) > 2 else "",
            "SIM_PKG_VERSION": rel["pkg"],
            "SIM_WIRED_SYSCTL": v.wired_sysctl,
            "SIM_CPU_MHZ": hardware.CPUS[v.cpu_vendor]["mhz"].split(".")[0] + ".000",
            "SIM_HW_CAPS": hardware.CPUS[v.cpu_vendor]["hw_caps"],
        }
        for ifname in v.interfaces:
            env[f"SIM_MAC_{ifname}"] = hardware.mac_for(self.name, ifname)
        self.write("/.sim/variant.env", _sh_env(env))

    def _write_hardware(self) -> None:
        v = self.variant
        for kind, xen in (("native", False), ("xen", True)):
            self.write(f"/.sim/hw/dmesg.{kind}", hardware.dmesg_boot(v, xen))
            self.write(f"/.sim/hw/acpi.{kind}", hardware.acpi_tables(v, xen))
        rows = hardware.sysctl_defaults(v, self.name)
        self.write("/.sim/sysctl/defaults", "".join("\t".join(r) + "\n" for r in rows))

    def _write_etc(self) -> None:
        v = self.variant
        self.write("/etc/ttys", (FIXTURES / f"ttys.{v.ttys}").read_text())
        login_conf = (FIXTURES / "login.conf.freebsd14").read_text()
        if v.login_conf_customised:
            # An admin already tuned the default class and added a class of their own.
            login_conf = login_conf.replace(":memorylocked=64K:", ":memorylocked=128M:", 1)
            login_conf += "\n# local: build jobs\nbuilder:\\\n\t:memorylocked=256M:\\\n\t:maxproc=4096:\\\n\t:tc=default:\n"
        self.write("/etc/login.conf", login_conf)
        first_if = v.interfaces[0] if v.interfaces else "em0"
        self.write(
            "/etc/rc.conf",
            f'hostname="{self.name}"\nifconfig_{first_if}="DHCP"\nsshd_enable="YES"\n'
            'ntpd_enable="YES"\n# Set dumpdev to "AUTO" to enable crash dumps, "NO" to disable\n'
            'dumpdev="AUTO"\nzfs_enable="YES"\n',
        )
        self.write(
            "/boot/loader.conf",
            'kern.geom.label.disk_ident.enable="0"\nkern.geom.label.gptid.enable="0"\n'
            'cryptodev_load="YES"\nzfs_load="YES"\n',
        )
        self.write(
            "/etc/sysctl.conf",
            "#\n#  This file is read when going to multi-user and its contents piped thru\n"
            "#  ``sysctl'' to adjust kernel values.  ``man 5 sysctl.conf'' for details.\n#\n\n"
            "# Uncomment this to prevent users from seeing information about processes that\n"
            "# are being run under another UID.\n#security.bsd.see_other_uids=0\n"
            + ("vfs.zfs.vdev.min_auto_ashift=12\n" if v.major >= 13 else ""),
        )
        self.write("/boot/kernel/kernel", f"# simulated FreeBSD {v.freebsd} {v.arch} GENERIC kernel\n", 0o555)
        self.write(
            "/etc/passwd",
            "root:*:0:0:Charlie &:/root:/bin/sh\ntoor:*:0:0:Bourne-again Superuser:/root:\n"
            "daemon:*:1:1:Owner of many system processes:/root:/usr/sbin/nologin\n"
            "nobody:*:65534:65534:Unprivileged user:/nonexistent:/usr/sbin/nologin\n",
        )
        self.write("/etc/group", "wheel:*:0:root\ndaemon:*:1:\nnogroup:*:65533:\nnobody:*:65534:\n")
        self.write("/etc/shells", "/bin/sh\n/bin/csh\n/bin/tcsh\n")
        self.write("/var/log/messages", "")
        self.write("/.sim/power/.keep", "")

    # A stock FreeBSD root-on-ZFS install (bsdinstall's layout), pool size from the variant.
    ZFS_LAYOUT = ("zroot", "zroot/ROOT", "zroot/ROOT/default", "zroot/home", "zroot/tmp", "zroot/usr",
                  "zroot/usr/ports", "zroot/usr/src", "zroot/var", "zroot/var/log", "zroot/var/tmp")

    def _write_zfs(self) -> None:
        now = int(time.time())
        self.write("/.sim/zfs/datasets", "".join(f"{d}\tfilesystem\t-\t-\t0\t\t{now}\n" for d in self.ZFS_LAYOUT))
        self.write("/.sim/zfs/pool_bytes", f"{240 * 1024**3}\n")

    # -- state for tests ------------------------------------------------------------------
    def _read_opt(self, p: str) -> str | None:
        try:
            return self.read(p).strip()
        except FileNotFoundError:
            return None

    def sysctls(self) -> dict[str, str]:
        out = {}
        for line in self.read("/.sim/sysctl/live").splitlines():
            parts = line.split("\t")
            if len(parts) == 4:
                out[parts[0]] = parts[3]
        return out

    def domains(self) -> dict[str, dict[str, str]]:
        """The existing domains, one dict of state files each (see the header of tools/xl).
        A guest whose OS has shut down but whose xl daemon has not destroyed it yet
        lingers, with state "--ps--" (paused for its destruction; "---s--" with
        on_poweroff="preserve"); past its gone_at_ms it is gone, as xl sees it.  "memory"
        and "vcpus" are what the guest has taken up (its balloon driver follows
        "mem_target", its OS brings "vcpus_avail" online, after balloon_ms, and never
        without PV drivers)."""
        base = self.path("/.sim/xen/domains")
        doms = {}
        now_ms = time.time() * 1000
        if base.is_dir():
            for d in sorted(base.iterdir()):
                try:
                    files = {f.name: f.read_text().strip() for f in d.iterdir() if f.is_file()}
                except FileNotFoundError:  # removed while we read it
                    continue
                if "domid" not in files:
                    continue
                if files.get("gone_at_ms") and int(files["gone_at_ms"]) <= now_ms:
                    continue
                if files.get("shutdown_at_ms") and int(files["shutdown_at_ms"]) <= now_ms:
                    # paused by the xl daemon destroying it; not with on_poweroff="preserve"
                    files["state"] = "--ps--" if files.get("gone_at_ms") else "---s--"
                    if files.get("type") in ("hvm", "pvh"):  # no vCPU online once shut down
                        files["vcpus"] = "0"
                        files.pop("vcpus_due_ms", None)
                for what, current, target in (("mem", "memory", "mem_target"), ("vcpus", "vcpus", "vcpus_avail")):
                    due = files.get(f"{what}_due_ms")
                    if due and int(due) <= now_ms and target in files:
                        files[current] = files[target]
                doms[d.name] = files
        return doms

    GUEST_BEHAVIOURS = ("auto", "pv", "acpi", "unresponsive")

    def guest_behaviour(self, guest: str, behaviour: str | None = None, *,
                        shutdown_seconds: float | None = None, linger_seconds: float | None = None,
                        balloon_seconds: float | None = None) -> None:
        """How guest `guest` (by name; kept across its re-creations and the Dom0's reboots)
        answers `xl shutdown`:

        - "pv": PV drivers, obeys `xl shutdown` (and `-F`);
        - "acpi": no PV drivers (an HVM guest without them): only `xl shutdown -F`, the ACPI
          power button, works; without -F xl fails ("PV control interface not available");
        - "unresponsive": accepts the request and never shuts down: only `xl destroy` ends it;
        - "auto" (the default): PV drivers unless it is an HVM guest booted from its cdrom.

        shutdown_seconds: how long its OS takes to shut down (host default 1 s);
        linger_seconds: how long it lingers shut down ("---s--", name and disks still
        taken) before the xl daemon destroys it (host default 0.3 s);
        balloon_seconds: how long after `xl mem-set` / `xl vcpu-set` its OS has taken up the
        new memory target / vCPUs, as `xl list` shows (host default 1 s; never without PV
        drivers)."""
        if behaviour is not None and behaviour not in self.GUEST_BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {self.GUEST_BEHAVIOURS}, not {behaviour!r}")
        if not guest or "/" in guest or guest in (".", ".."):
            raise ValueError(f"bad guest name {guest!r}")
        base = f"/.sim/xen/guests/{guest}"
        if behaviour is not None:
            self.write(f"{base}/behaviour", f"{behaviour}\n")
        for key, seconds in (("shutdown_ms", shutdown_seconds), ("linger_ms", linger_seconds),
                             ("balloon_ms", balloon_seconds)):
            if seconds is not None:
                self.write(f"{base}/{key}", f"{int(seconds * 1000)}\n")

    def set_xen_timing(self, shutdown_seconds: float | None = None, linger_seconds: float | None = None,
                       balloon_seconds: float | None = None) -> None:
        """Host defaults: how long a guest takes to shut down, and to be destroyed after;
        how long it takes to follow `xl mem-set` / `xl vcpu-set`."""
        for key, seconds in (("shutdown_ms", shutdown_seconds), ("linger_ms", linger_seconds),
                             ("balloon_ms", balloon_seconds)):
            if seconds is not None:
                self.write(f"/.sim/xen/{key}", f"{int(seconds * 1000)}\n")

    def volumes(self) -> dict[str, dict[str, object]]:
        """ZFS datasets: {name: {"type", "volsize" (bytes or None), "volmode", "refreservation"}}."""
        out = {}
        try:
            text = self.read("/.sim/zfs/datasets")
        except FileNotFoundError:
            return out
        for line in text.splitlines():
            f = line.split("\t")
            if len(f) < 5:
                continue
            out[f[0]] = {"type": f[1], "volsize": int(f[2]) if f[2].isdigit() else None,
                         "volmode": f[3], "refreservation": int(f[4] or 0)}
        return out

    def boot_count(self) -> int:
        """How many times the host has booted (one file: readable while a boot writes the rest)."""
        return int(self._read_opt("/.sim/state/boot_count") or 0)

    def sim_state(self) -> dict:
        """What tests assert on: the running kernel, Xen and Dom0 figures, boots, packages."""
        sysctls = self.sysctls() if self.exists("/.sim/sysctl/live") else {}
        doms = self.domains()
        dom0 = doms.get("Domain-0", {})
        boottime = sysctls.get("kern.boottime", "")
        installed = {}
        inst = self.path("/.sim/pkg/installed")
        if inst.is_dir():
            for d in sorted(inst.iterdir()):
                installed[d.name] = (d / "version").read_text().strip()
        net = {}
        nb = self.path("/.sim/net")
        if nb.is_dir():
            for d in sorted(nb.iterdir()):
                if d.is_dir():
                    members = d / "members"
                    net[d.name] = members.read_text().split() if members.exists() else []
        return {
            "name": self.name,
            "variant": self.variant.name,
            "port": self.port,
            "boot_count": self.boot_count(),
            "kernel": "xen" if self.exists("/.sim/run/xen.booted") else "freebsd",
            "xen_version": self._read_opt("/.sim/run/xen.version"),
            "xen_cmdline": self._read_opt("/.sim/run/xen.cmdline"),
            "xen_failure": self._read_opt("/.sim/run/xen.failure"),
            "dom0_memory_mib": int(dom0["memory"]) if dom0 else None,
            "dom0_maxmem_mib": int(dom0["maxmem"]) if dom0 else None,
            "dom0_vcpus": int(dom0["vcpus"]) if dom0 else None,
            "domains": doms,
            "volumes": self.volumes(),
            "boottime": int(boottime.split()[3].rstrip(",")) if boottime else None,
            "vm_guest": sysctls.get("kern.vm_guest"),
            "hostname": sysctls.get("kern.hostname"),
            "sysctl": sysctls,
            "interfaces": net,
            "packages": installed,
            "xenstored_running": self.exists("/var/run/xenstored.pid"),
            "powered_off": self.exists("/.sim/state/powered_off"),
            # how the last power cycle came: "shutdown(8)" (rc.shutdown ran) or "reboot(8)"
            "last_power_via": self._read_opt("/.sim/state/last_power_via"),
        }

    def sim_state_json(self) -> str:
        return json.dumps(self.sim_state(), indent=2, sort_keys=True)
