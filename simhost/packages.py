"""The simulated pkg(8) repository of each release and the files each package installs.

FreeBSD 11 only has the Xen 4.7 ports (xen-kernel47/xen-tools47); 12 and later have
xen-kernel411/xen-tools411 (4.11) and xen-kernel/xen-tools (the variant's `xen_ports`:
4.19, or 4.21 for today's 14.x/15.x).  The Xen ports are
amd64-only (ONLY_FOR_ARCHS), so an i386 repository has none of them.
Payloads are written under /.sim/pkg/payload/NAME/ and copied to / by `pkg install`.
"""

from __future__ import annotations

import shutil

from dataclasses import dataclass, field
from pathlib import Path

from .hardware import release_info
from .variants import Variant

HERE = Path(__file__).resolve().parent


@dataclass
class Package:
    name: str
    version: str
    origin: str
    comment: str
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> (content, mode)


XL_CONF = """\
## Global XL config file ##

# Set domain-id policy. "xen" means that the hypervisor will choose the
# id of a new domain. "random" means that a random value will be chosen.
#domid_policy="xen"

# Control whether dom0 is ballooned down when xen doesn't have enough
# free memory to create a domain.  "auto" means only balloon if dom0
# starts with all the host's memory.
#autoballoon="auto"

# full path of the lockfile used by xl during domain creation
#lockfile="/var/lock/xl"

# default output format used by "xl list -l"
#output_format="json"

# first block device to be used for temporary VM disk mounts
#blkdev_start="xvda"

# default option to run hotplug scripts from xl
# if disabled the old behaviour will be used, and hotplug scripts will be
# launched by udev.
#run_hotplug_scripts=1

# default backend domain to connect guest vifs to.  This can be any
# valid domain identifier.
#vif.default.backend="0"

# default gateway device to use with vif-route hotplug script
#vif.default.gatewaydev="eth0"

# default vif script to use if none is specified in the guest config
#vif.default.script="vif-bridge"

# default bridge device to use with vif-bridge hotplug scripts
#vif.default.bridge="xenbr0"

# Reserve a claim of memory when launching a guest. This guarantees immediate
# feedback whether the guest can be launched due to memory exhaustion
# (which can take a long time to find out if launching huge guests).
# see xl.conf(5) for details.
#claim_mode=1
"""

XENCOMMONS = """\
#!/bin/sh
#
# PROVIDE: xencommons
# REQUIRE: DAEMON
#
# Should be run before any Xen domain is started.

. /etc/rc.subr

name="xencommons"
desc="Start xen services (xenstored, xenconsoled)"
rcvar="xencommons_enable"
start_cmd="xen_startcmd"
stop_cmd="xen_stop"
status_cmd="xen_status"
extra_commands="status"
required_files="/dev/xen/xenstore"

XENSTORED_PIDFILE="/var/run/xenstored.pid"
XENCONSOLED_PIDFILE="/var/run/xenconsoled.pid"

load_rc_config $name
: ${xencommons_enable:=NO}

xen_startcmd()
{
	if [ -f ${XENSTORED_PIDFILE} ]; then
		echo "xenstored is already running (pid $(cat ${XENSTORED_PIDFILE}))"
		return 0
	fi
	printf "Starting xenservices: xenstored, xenconsoled."
	echo $$ > ${XENSTORED_PIDFILE}
	echo $$ > ${XENCONSOLED_PIDFILE}
	printf "\\n"
	printf "Setting domain 0 name, domid and JSON config...\\n"
}

xen_stop()
{
	printf "Stopping xencommons.\\n"
	rm -f ${XENSTORED_PIDFILE} ${XENCONSOLED_PIDFILE}
}

xen_status()
{
	if [ -f ${XENSTORED_PIDFILE} ]; then
		echo "xenstored is running as pid $(cat ${XENSTORED_PIDFILE})."
		echo "xenconsoled is running as pid $(cat ${XENCONSOLED_PIDFILE})."
		return 0
	fi
	echo "xenstored is not running."
	return 1
}

run_rc_command "$1"
"""

# tools/hotplug/FreeBSD/vif-bridge of xen-project/xen, as the port installs it.  libxl runs
# it with the backend path and "add"/"remove", iface_dev and emulated in the environment.
VIF_BRIDGE = """\
#!/bin/sh -e
#
# FreeBSD hotplug script for attaching xnb* interfaces to bridges
#
# Parameters:
#	$1: xenstore backend path of the vif
#	$2: action, either "add" or "remove"
#
# Environment variables:
#	$iface_dev: name of the backend device (xnb<domid>.<handle>)
#

DIR=$(dirname "$0")
. "${DIR}/hotplugpath.sh"

PATH=${BINDIR}:${SBINDIR}:${LIBEXEC_BIN}:/bin:/usr/bin:/sbin:/usr/sbin
export PATH

path=$1
action=$2

case $action in
add)
	bridge=$(xenstore-read "$path/bridge")
	mtu=$(ifconfig $bridge | sed -n 's/.*mtu \\([0-9]*\\)$/\\1/p')
	ifconfig $iface_dev mtu $mtu
	ifconfig $bridge addm $iface_dev
	ifconfig $iface_dev up
	exit 0
	;;
remove)
	if [ "$emulated" -eq 1 ]; then
		bridge=$(xenstore-read "$path/bridge")
		ifconfig $iface_dev down
		ifconfig $bridge deletem $iface_dev
		ifconfig $iface_dev destroy
	fi
	exit 0
	;;
*)
	exit 0
	;;
esac
"""

HOTPLUGPATH = """\
SBINDIR="/usr/local/sbin"
BINDIR="/usr/local/bin"
LIBEXEC="/usr/local/lib/xen"
LIBEXEC_BIN="/usr/local/lib/xen/bin"
LIBDIR="/usr/local/lib"
SHAREDIR="/usr/local/share"
PRIVATE_BINDIR="/usr/local/lib/xen/bin"
XENFIRMWAREDIR="/usr/local/lib/xen/boot"
XEN_CONFIG_DIR="/usr/local/etc/xen"
XEN_SCRIPT_DIR="/usr/local/etc/xen/scripts"
XEN_LOCK_DIR="/var/lib"
XEN_RUN_DIR="/var/run/xen"
XEN_PAGING_DIR="/var/lib/xen/xenpaging"
XEN_DUMP_DIR="/var/lib/xen/dump"
"""

# xenstore-read(1): the nodes xl writes for the hotplug scripts live under /.sim/xen/xs.
XENSTORE_READ = """\
#!/bin/sh
# xenstore-read PATH... (simulated: the nodes xl writes under /.sim/xen/xs)
[ $# -ge 1 ] || { echo "Usage: xenstore-read [-h] [-s] [-p] [-R] key [...]" >&2; exit 2; }
[ -f /var/run/xenstored.pid ] || { echo "xenstore-read: could not connect to xenstored: No such file or directory" >&2; exit 1; }
for k in "$@"; do
	case $k in /*) ;; *) echo "xenstore-read: couldn't read path $k" >&2; exit 1 ;; esac
	if [ -f "/.sim/xen/xs$k" ]; then cat "/.sim/xen/xs$k"; else echo "xenstore-read: couldn't read path $k" >&2; exit 1; fi
done
"""


def _kernel(name: str, version: str, xen_version: str, origin: str) -> Package:
    p = Package(name, version, origin, "Hypervisor using a microkernel design")
    p.files["/boot/xen"] = (
        f"XEN_VERSION={xen_version}\n# simulated Xen {xen_version} hypervisor image (multiboot ELF)\n",
        0o555,
    )
    if xen_version.startswith("4.7."):
        # The 4.7 port boots through the Forth loader module it ships.
        p.files["/boot/xen.4th"] = (
            "\\ Xen multiboot support for loader(8), simulated\n\\ Loaded when xen_kernel is set in loader.conf\n",
            0o444,
        )
    return p


def _tools(name: str, version: str, xen_version: str, origin: str) -> Package:
    p = Package(name, version, origin, "Xen management tools")
    xl = (HERE / "tools" / "xl").read_text().replace("@XEN_VERSION@", xen_version)
    p.files["/usr/local/sbin/xl"] = (xl, 0o555)
    p.files["/usr/local/etc/xen/xl.conf"] = (XL_CONF, 0o644)
    p.files["/usr/local/etc/rc.d/xencommons"] = (XENCOMMONS, 0o555)
    p.files["/usr/local/etc/xen/scripts/vif-bridge"] = (VIF_BRIDGE, 0o555)
    p.files["/usr/local/etc/xen/scripts/hotplugpath.sh"] = (HOTPLUGPATH, 0o444)
    p.files["/usr/local/bin/xenstore-read"] = (XENSTORE_READ, 0o555)
    p.files["/usr/local/lib/xen/boot/hvmloader"] = (f"# simulated hvmloader for Xen {xen_version}\n", 0o444)
    if not xen_version.startswith("4.7."):
        p.files["/usr/local/etc/rc.d/xendriverdomain"] = (
            "#!/bin/sh\n#\n# PROVIDE: xendriverdomain\n# REQUIRE: DAEMON\n\n. /etc/rc.subr\n\n"
            'name="xendriverdomain"\nrcvar="xendriverdomain_enable"\nstart_cmd=":"\nstop_cmd=":"\n\n'
            'load_rc_config $name\n: ${xendriverdomain_enable:=NO}\n\nrun_rc_command "$1"\n',
            0o555,
        )
    return p


# The ports' unversioned Xen packages, by the Xen they carry.
# (package version of xen-kernel, of xen-tools, Xen version)
CURRENT_XEN = {
    "4.19": ("4.19.1.20250217", "4.19.1.20250217_1", "4.19.1"),
    "4.21": ("4.21.0", "4.21.0", "4.21.0"),
}


def current_xen(xen_ports: str) -> list[Package]:
    kernel_version, tools_version, xen_version = CURRENT_XEN[xen_ports]
    return [
        _kernel("xen-kernel", kernel_version, xen_version, "emulators/xen-kernel"),
        _tools("xen-tools", tools_version, xen_version, "sysutils/xen-tools"),
    ]


def repository(v: Variant) -> list[Package]:
    """Packages available to `pkg install` on this release/architecture."""
    pkgs = [
        Package("tmux", "3.4_1", "sysutils/tmux", "Terminal Multiplexer"),
        Package("bash", "5.2.26_1", "shells/bash", "GNU Project's Bourne Again SHell"),
    ]
    pkgs[0].files["/usr/local/bin/tmux"] = ("#!/bin/sh\necho 'tmux: simulated' >&2\nexit 1\n", 0o555)
    pkgs[1].files["/usr/local/bin/bash"] = ("#!/bin/sh\nexec /bin/sh \"$@\"\n", 0o555)
    if v.arch != "amd64":
        return pkgs
    if v.major <= 11:
        pkgs += [
            _kernel("xen-kernel47", "4.7.2_9", "4.7.2", "emulators/xen-kernel47"),
            _tools("xen-tools47", "4.7.2_9", "4.7.2", "sysutils/xen-tools47"),
        ]
    else:
        pkgs += [
            _kernel("xen-kernel411", "4.11.4_5", "4.11.4", "emulators/xen-kernel411"),
            _tools("xen-tools411", "4.11.4_5", "4.11.4", "sysutils/xen-tools411"),
            *current_xen(v.xen_ports),
        ]
    return pkgs


def write_repository(root: Path, v: Variant) -> None:
    """Write /.sim/pkg/repo and the payload trees into a host root."""
    base = root / ".sim" / "pkg"
    lines = []
    for p in repository(v):
        lines.append("\t".join((p.name, p.version, p.origin, p.comment)))
        for path, (content, mode) in p.files.items():
            dest = base / "payload" / p.name / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(content)
            dest.chmod(mode)
    (base / "repo").write_text("\n".join(lines) + "\n")
    (base / "installed").mkdir(parents=True, exist_ok=True)
    # pkg itself is not installed on a fresh FreeBSD: /usr/sbin/pkg bootstraps it on first
    # use (simhost/tools/pkg-bootstrap). A variant with pkg_bootstrapped has it already.
    if v.pkg_bootstrapped:
        pkg = root / "usr" / "local" / "sbin" / "pkg"
        shutil.copyfile(base / "pkg-static", pkg)
        pkg.chmod(0o555)
        inst = base / "installed" / "pkg"
        inst.mkdir(parents=True, exist_ok=True)
        (inst / "version").write_text(release_info(v)["pkg"] + "\n")
        (inst / "origin").write_text("ports-mgmt/pkg\n")
        (inst / "comment").write_text("Package manager\n")
        (inst / "files").write_text("/usr/local/sbin/pkg\n")
