"""
The boot images of the real-Xen test VMs, built from this machine's Debian
packages and cached by a hash of everything that goes into them.

* ``xen``: Xen's hypervisor (``/boot/xen-4.17-amd64.gz`` gunzipped): QEMU loads
  it as a multiboot kernel (it is a 32-bit ELF with a multiboot header).
* ``vmlinuz``: Debian's ``linux-image-amd64`` kernel, the Dom0 and the guests'.
* ``dom0.cpio.gz``: a busybox initramfs with the Xen tools (xl, xenstored,
  xenconsoled, the hotplug scripts), their shared libraries (copied with ldd),
  the kernel modules a Dom0 needs, ssh/sshd for ``xl migrate``'s transport, and
  the guests' kernel and initramfs under /root/guest.
* ``guest.cpio.gz``: the guests' busybox initramfs (see ``GUEST_INIT``).

Cache: ``$REALXEN_CACHE`` or /var/cache/pyinfra-freebsd-xen/realxen/<hash>/,
the hash covering the package versions, this file and the kernel; a change in
any of them builds a new directory (old ones can be deleted freely).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CACHE_ROOT = Path(os.environ.get("REALXEN_CACHE", "/var/cache/pyinfra-freebsd-xen/realxen"))

# Debian packages the images are built from (and ./run realxen installs).
PACKAGES = (
    "xen-hypervisor-4.17-amd64",
    "xen-utils-4.17",
    "xen-utils-common",
    "xenstore-utils",
    "linux-image-amd64",
    "qemu-system-x86",
    "busybox-static",
    "openssh-client",
    "openssh-server",
    "iproute2",
    "util-linux",
    "bash",
)
XEN_GZ = Path("/boot/xen-4.17-amd64.gz")
XEN_LIB = Path("/usr/lib/xen-4.17")

# Dom0 binaries copied with their libraries (ldd). xl finds libxl-save-helper
# and the hotplug scripts at the paths Debian built it with.
DOM0_BINARIES = (
    "/usr/lib/xen-4.17/bin/xl",
    "/usr/lib/xen-4.17/bin/xenstored",
    "/usr/lib/xen-4.17/bin/xenconsoled",
    "/usr/lib/xen-4.17/bin/xen-init-dom0",
    "/usr/lib/xen-4.17/bin/libxl-save-helper",
    "/usr/bin/xenstore-read",
    "/usr/bin/xenstore-ls",
    "/usr/bin/xenstore-write",
    "/usr/bin/xenstore-list",
    "/usr/bin/xenstore-exists",
    "/usr/bin/xenstore-rm",
    "/usr/bin/xenstore-chmod",
    "/usr/bin/xenstore-watch",
    "/usr/bin/stat",
    "/usr/bin/readlink",
    "/bin/bash",
    "/usr/sbin/ip",
    "/usr/sbin/losetup",
    "/usr/bin/ssh",
    "/usr/sbin/sshd",
    "/usr/bin/ssh-keygen",
    "/usr/bin/flock",
)
# Kernel modules of the Dom0 (their dependencies follow from modules.dep).
DOM0_MODULES = (
    "xen-evtchn", "xenfs", "xen-privcmd", "xen-gntdev", "xen-gntalloc",
    "xen-blkback", "xen-netback", "bridge", "loop", "e1000", "tun",
)

DOM0_INIT = r"""#!/bin/sh
# Dom0 init of the real-Xen test VM: mount, load the Xen modules, start
# xenstored/xenconsoled as xencommons would, a bridge0 (on eth0 when the VM
# has a network), sshd for xl migrate, then a shell on the Xen console (hvc0).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/xen-4.17/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run /var/run /var/log/xen/console /var/lib/xen /tmp /vm /usr/local/etc/xen /root/.ssh
mount -t devpts devpts /dev/pts
# udev would make these; the hotplug scripts' locking.sh stats /dev/stdin.
ln -sf /proc/self/fd /dev/fd; ln -sf fd/0 /dev/stdin; ln -sf fd/1 /dev/stdout; ln -sf fd/2 /dev/stderr
mkdir -p /var/run/xen /var/run/xen-hotplug /var/lib/xen /var/log/xen
mount -t tmpfs tmpfs /run
dmesg -n 1
for m in $(cat /etc/realxen-modules); do modprobe "$m" 2>/dev/null || echo "init: modprobe $m failed"; done
mount -t xenfs xenfs /proc/xen
hostname "$(sed -n 's/.*realxen_host=\([^ ]*\).*/\1/p' /proc/cmdline)"
xenstored --pid-file /var/run/xenstored.pid
xenstore-write /local/domain/0/name Domain-0 2>/dev/null
xen-init-dom0 >/dev/null 2>&1
xenconsoled --pid-file=/var/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
ip link set lo up
ip link add bridge0 type bridge
ip=$(sed -n 's/.*realxen_ip=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$ip" ] && ip link show eth0 >/dev/null 2>&1; then
    ip link set eth0 master bridge0
    ip link set eth0 up
    ip addr add "$ip/24" dev bridge0
fi
ip link set bridge0 up
for peer in $(sed -n 's/.*realxen_hosts=\([^ ]*\).*/\1/p' /proc/cmdline | tr '+' ' '); do
    echo "${peer#*=} ${peer%%=*}" >>/etc/hosts
done
mkdir -p /var/empty /run/sshd
chmod 700 /root/.ssh
/usr/sbin/sshd -f /etc/ssh/sshd_config
echo "REALXEN-DOM0-READY"
# The console shell is not PID 1: every orphan (a backgrounded xl migrate,
# xl's daemons) is reparented to PID 1, and busybox ash, interrupted by the
# SIGCHLD of an unknown child while it reads its line, exits -- a PID 1 that
# exits panics the kernel. So PID 1 only reaps.
setsid sh -c 'exec sh </dev/hvc0 >/dev/hvc0 2>&1' &
while :; do wait; sleep 1; done
"""

# The shell side of the serial protocol (tests/realxen/vm.py): run a base64
# command with sh, then print its exit status and its stdout and stderr as
# base64 between lines only this script writes (the command is not echoed:
# the driver turns the tty's echo off).
DOM0_RX = r"""#!/bin/sh
# rx TOKEN MD5 BASE64-COMMAND: run it, report rc/stdout/stderr framed by TOKEN.
# A command that arrived damaged (the serial line drops characters) is not run.
token=$1
printf '%s' "$3" | base64 -d >/tmp/rx.cmd 2>/dev/null
if [ "$(md5sum </tmp/rx.cmd | cut -c1-32)" != "$2" ]; then echo "$token-DAMAGED"; exit 0; fi
sh /tmp/rx.cmd </dev/null >/tmp/rx.out 2>/tmp/rx.err
rc=$?
rxshow "$token" "$rc"
"""
DOM0_RXSHOW = r"""#!/bin/sh
# rxshow TOKEN RC: (re)print the last command's result.
echo "$1-BEGIN $2 $(wc -c </tmp/rx.out) $(wc -c </tmp/rx.err) $(md5sum </tmp/rx.out | cut -c1-32) $(md5sum </tmp/rx.err | cut -c1-32)"
base64 </tmp/rx.out
echo "$1-ERR"
base64 </tmp/rx.err
echo "$1-END"
"""

# The guests' init. Linux answers Xen's control/shutdown "poweroff" with
# orderly_poweroff(), which runs /sbin/poweroff: this one powers off at once,
# unless the kernel command line has realxen_guest=ignore-shutdown (a guest
# that ignores the request). It prints a line on its console once up, which
# xenconsoled logs in the Dom0.
GUEST_INIT = r"""#!/bin/sh
export PATH=/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "REALXEN-GUEST-UP $(cat /proc/cmdline)"
# What udev's rule does on a distribution (cpu "add" -> online=1), without
# udev (this kernel has no uevent helper): Linux unregisters the vCPUs Xen
# marks offline and registers them again when xl vcpu-set makes them
# available; a vCPU whose sysfs directory appears is brought up. A vCPU that
# xl vcpu-set made available while the kernel was still booting is there,
# offline, before this loop starts: it counts as new too (only the online
# ones are "known"), or it would never come up.
known=$(for cpu in /sys/devices/system/cpu/cpu[0-9]*; do
    [ "$(cat "$cpu/online" 2>/dev/null || echo 1)" = 1 ] && echo "$cpu"; done)
while :; do
    for cpu in /sys/devices/system/cpu/cpu[0-9]*; do
        case " $(echo $known) " in *" $cpu "*) continue ;; esac
        [ "$(cat "$cpu/online" 2>/dev/null)" = 0 ] && echo 1 >"$cpu/online"
    done
    known=$(ls -d /sys/devices/system/cpu/cpu[0-9]*)
    sleep 1
done
"""
GUEST_POWEROFF = r"""#!/bin/sh
case " $(cat /proc/cmdline) " in
*" realxen_guest=ignore-shutdown "*) echo "REALXEN-GUEST ignoring the shutdown request"; exit 0 ;;
esac
echo "REALXEN-GUEST powering off"
exec /bin/busybox poweroff -f
"""

SSHD_CONFIG = """Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile /run/sshd.pid
"""
SSH_CONFIG = """Host *
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR
    IdentityFile /root/.ssh/id_ed25519
"""


class MissingPrerequisite(RuntimeError):
    """A package the real-Xen run needs is not installed."""


def kernel_version() -> str:
    kernels = sorted(Path("/boot").glob("vmlinuz-*"))
    if not kernels:
        raise MissingPrerequisite("no /boot/vmlinuz-*: install it with `./run realxen` (apt-get install linux-image-amd64)")
    return kernels[-1].name.removeprefix("vmlinuz-")


def package_versions() -> dict[str, str]:
    versions = {}
    missing = []
    for package in PACKAGES:
        res = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status} ${Version}", package], capture_output=True, text=True,
        )
        if res.returncode != 0 or not res.stdout.startswith("install ok installed"):
            missing.append(package)
        else:
            versions[package] = res.stdout.split()[-1]
    if missing:
        raise MissingPrerequisite(
            f"missing Debian packages: {' '.join(missing)}: run `./run realxen` "
            f"(it runs apt-get install -y --no-install-recommends {' '.join(missing)})",
        )
    return versions


def inputs_hash() -> str:
    digest = hashlib.sha256()
    for package, version in sorted(package_versions().items()):
        digest.update(f"{package}={version}\n".encode())
    digest.update(kernel_version().encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def _ldd_libraries(binary: str) -> set[str]:
    res = subprocess.run(["ldd", binary], capture_output=True, text=True)
    libraries = set()
    for line in res.stdout.splitlines():
        parts = line.split()
        if "=>" in parts:
            target = parts[parts.index("=>") + 1]
            if target.startswith("/"):
                libraries.add(target)
        elif parts and parts[0].startswith("/"):
            libraries.add(parts[0])
    return libraries


def _copy(src: str | Path, root: Path) -> None:
    src = Path(src)
    dest = root / str(src).lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() or dest.is_symlink():
        return
    shutil.copy2(os.path.realpath(src), dest)


def _busybox(root: Path) -> None:
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2("/bin/busybox", root / "bin/busybox")
    applets = subprocess.run(["/bin/busybox", "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        link = root / applet
        if link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")


def _write(root: Path, path: str, text: str, mode: int = 0o644) -> None:
    dest = root / path.lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink():
        dest.unlink()
    dest.write_text(text)
    dest.chmod(mode)


def _modules(root: Path, kver: str, names: tuple[str, ...]) -> list[str]:
    """Copy the named modules and their dependencies; return the load order."""

    base = Path("/lib/modules") / kver
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in (base / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[path] = rest.split()
        by_name[Path(path).name.split(".ko")[0].replace("_", "-")] = path
    order: list[str] = []

    def add(path: str) -> None:
        if path in order:
            return
        for dep in deps.get(path, []):
            add(dep)
        order.append(path)

    for name in names:
        add(by_name[name.replace("_", "-")])
    for path in order:
        _copy(base / path, root)
    for extra in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        _copy(base / extra, root)
    subprocess.run(["depmod", "-b", str(root), kver], check=True)
    return [Path(p).name.split(".ko")[0] for p in order]


def _cpio(root: Path, out: Path) -> None:
    files = subprocess.run(
        ["find", ".", "-mindepth", "1"], cwd=root, capture_output=True, check=True,
    ).stdout
    with out.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz:
        proc = subprocess.run(
            ["cpio", "-o", "-H", "newc", "--quiet", "-R", "0:0"], cwd=root, input=files, capture_output=True, check=True,
        )
        gz.write(proc.stdout)


def build_guest(work: Path, out: Path) -> None:
    root = work / "guest"
    _busybox(root)
    for d in ("proc", "sys", "dev", "tmp"):
        (root / d).mkdir(exist_ok=True)
    _write(root, "/init", GUEST_INIT, 0o755)
    (root / "sbin/poweroff").unlink()
    _write(root, "/sbin/poweroff", GUEST_POWEROFF, 0o755)
    _cpio(root, out)


def build_dom0(work: Path, out: Path, kver: str, guest_initrd: Path, kernel: Path) -> None:
    root = work / "dom0"
    _busybox(root)
    for d in ("proc", "sys", "dev", "tmp", "run", "var/run", "var/log", "var/lib/xen", "vm", "root", "etc/ssh"):
        (root / d).mkdir(parents=True, exist_ok=True)
    libraries: set[str] = set()
    for binary in DOM0_BINARIES:
        if not Path(binary).exists():
            raise MissingPrerequisite(f"{binary} is missing: run `./run realxen` to install its package")
        # Tools replace busybox's applets of the same name (ip, losetup, ...).
        dest = root / binary.lstrip("/")
        if dest.is_symlink():
            dest.unlink()
        _copy(binary, root)
        libraries |= _ldd_libraries(binary)
    # dlopen()ed, so ldd does not name them: NSS (ssh/sshd look up users) and
    # libgcc_s (glibc needs it for pthread_cancel, which xl's exit uses).
    dlopened = [str(p) for p in Path("/lib/x86_64-linux-gnu").glob("libnss_files*")]
    dlopened.append("/usr/lib/x86_64-linux-gnu/libgcc_s.so.1")
    for lib in sorted(libraries) + dlopened:
        _copy(lib, root)
    for script in Path("/etc/xen/scripts").iterdir():
        _copy(script, root)
    _copy("/etc/xen/xl.conf", root)
    _write(root, "/usr/sbin/xl", "", 0o755)
    (root / "usr/sbin/xl").unlink()
    (root / "usr/sbin/xl").symlink_to("/usr/lib/xen-4.17/bin/xl")
    (root / "usr/local/sbin").mkdir(parents=True, exist_ok=True)
    (root / "usr/local/sbin/xl").symlink_to("/usr/lib/xen-4.17/bin/xl")
    modules = _modules(root, kver, DOM0_MODULES)
    _write(root, "/etc/realxen-modules", "\n".join(modules) + "\n")
    _write(root, "/init", DOM0_INIT, 0o755)
    _write(root, "/usr/bin/rx", DOM0_RX, 0o755)
    _write(root, "/usr/bin/rxshow", DOM0_RXSHOW, 0o755)
    _write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nsshd:x:101:65534::/run/sshd:/bin/false\n")
    _write(root, "/etc/group", "root:x:0:\nnogroup:x:65534:\n")
    _write(root, "/etc/shadow", "root:*:19000:0:99999:7:::\n", 0o600)
    _write(root, "/etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files\n")
    _write(root, "/etc/hosts", "127.0.0.1 localhost\n")
    _write(root, "/etc/ssh/sshd_config", SSHD_CONFIG)
    _write(root, "/root/.ssh/config", SSH_CONFIG, 0o600)
    # One key pair for both VMs: each accepts the other's root (xl migrate's transport).
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "etc/ssh/ssh_host_ed25519_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "root/.ssh/id_ed25519")], check=True)
    shutil.copy2(root / "root/.ssh/id_ed25519.pub", root / "root/.ssh/authorized_keys")
    guest_dir = root / "root/guest"
    guest_dir.mkdir(parents=True)
    shutil.copy2(kernel, guest_dir / "vmlinuz")
    shutil.copy2(guest_initrd, guest_dir / "initrd.gz")
    _cpio(root, out)


def images() -> Path:
    """The cache directory holding xen, vmlinuz, dom0.cpio.gz (built now if missing)."""

    kver = kernel_version()
    directory = CACHE_ROOT / inputs_hash()
    if (directory / "complete").exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    kernel = Path("/boot") / f"vmlinuz-{kver}"
    if not XEN_GZ.exists():
        raise MissingPrerequisite(f"{XEN_GZ} is missing: run `./run realxen` (apt-get install xen-hypervisor-4.17-amd64)")
    with gzip.open(XEN_GZ) as src, (directory / "xen").open("wb") as dest:
        shutil.copyfileobj(src, dest)
    shutil.copy2(kernel, directory / "vmlinuz")
    with tempfile.TemporaryDirectory(prefix="realxen-image-") as tmp:
        work = Path(tmp)
        build_guest(work, directory / "guest.cpio.gz")
        build_dom0(work, directory / "dom0.cpio.gz", kver, directory / "guest.cpio.gz", kernel)
    versions = package_versions()
    (directory / "inputs.txt").write_text(
        "".join(f"{p}={v}\n" for p, v in sorted(versions.items())) + f"kernel={kver}\n",
    )
    (directory / "complete").write_text("")
    return directory
