"""
Name and path checks shared by the guest schema and the xl.cfg renderer.

Every value checked here ends up in one of three places: a shell command run on
the Dom0 (``zfs create``, ``truncate``, ``fetch``), a quoted string in an xl
config file, or a comma-separated xl disk/vif spec. The rules are therefore the
intersection of what FreeBSD/ZFS/Xen accept and what survives all three without
quoting tricks. Each check returns the (possibly normalised) value or raises
``ValueError`` with a sentence that names the problem and the fix.
"""

from __future__ import annotations

import posixpath
import re

GUEST_NAME = re.compile(r"\A[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")
GUEST_NAME_MAX = 64
# FreeBSD interface names (bridge0, vlan12, ...): what ifconfig -l prints.
BRIDGE_NAME = re.compile(r"\A[a-z][a-z0-9]*[0-9]+\Z")
MAC_ADDRESS = re.compile(r"\A[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z")
VDEV_NAME = re.compile(r"\A(hd|sd|xvd)[a-z]+\Z")
SIZE = re.compile(r"\A([1-9][0-9]*)([KMGT]?)\Z")
SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}

# ZFS (zfs_namecheck.c) allows letters, digits and "_-:." plus space in a
# component; we leave out the space since the name goes on command lines.
ZFS_COMPONENT = re.compile(r"\A[A-Za-z0-9_.:-]+\Z")
ZFS_NAME_MAX = 255
# zpool(8): pool names must begin with a letter and must not be these.
ZFS_RESERVED_POOL = re.compile(r"\A(mirror|raidz|draid|spare|log|c[0-9].*)\Z")
# zvols are created with the default volblocksize (8K before OpenZFS 2.2,
# 16K since); zfs refuses a volume size that is not a multiple of it.
ZVOL_SIZE_MULTIPLE = 16 * 1024

# Characters a host path may contain: enough for any sane path, and nothing a
# shell, an xl string or an xl disk spec (',' and '=' separate its fields) would
# interpret.
PATH_CHARACTERS = re.compile(r"\A[A-Za-z0-9_.+@:/-]+\Z")
PATH_MAX = 1023

# The system's own trees (hier(7)): a disk image or an install medium there
# would be a system file that truncate grows or fetch overwrites.
SYSTEM_TREES = (
    "/bin", "/boot", "/compat", "/dev", "/etc", "/lib", "/libexec", "/proc", "/rescue", "/root", "/sbin",
    "/usr/bin", "/usr/include", "/usr/lib", "/usr/lib32", "/usr/libdata", "/usr/libexec", "/usr/sbin",
    "/usr/share", "/usr/src", "/usr/local/bin", "/usr/local/etc", "/usr/local/include", "/usr/local/lib",
    "/usr/local/libdata", "/usr/local/libexec", "/usr/local/sbin", "/usr/local/share",
    "/var/account", "/var/audit", "/var/backups", "/var/cron", "/var/db", "/var/empty", "/var/log",
    "/var/mail", "/var/run", "/var/spool", "/var/unbound",
)
# Top-level directories that hold nothing but those trees: a file right in them is theirs too.
SYSTEM_DIRECTORIES = ("/usr", "/usr/local", "/var")
# Disk devices FreeBSD names (ada(4), da(4), nvd(4), nda(4), vtblk(4), xbd(4), md(4),
# mmcsd(4), mfi(4)) and the GEOM providers that label or combine them.
DISK_DEVICE = re.compile(
    r"\A/dev/(?:(?:ada|da|nvd|nda|vtbd|xbd|md|mmcsd|mfid|mfisyspd|sdda|cd)[0-9]+(?:[ps][0-9]+[a-h]?|[a-h])?"
    r"|(?:zvol|gpt|gptid|label|diskid|ufs|ufsid|mirror|raid|stripe|concat|multipath|hast|iso9660)/[A-Za-z0-9_.:+@/-]+)\Z",
)



def _describe_char(char: str) -> str:
    names = {" ": "a space", "\t": "a tab", "\n": "a newline", "\r": "a carriage return"}
    return names.get(char, repr(char))


def check_guest_name(value: str) -> str:
    """A domain name xl accepts and that is safe as a file name and shell word."""

    if not value:
        raise ValueError("name must not be empty: use e.g. freebsd or web-1")
    if len(value) > GUEST_NAME_MAX:
        raise ValueError(f"name {value[:20]!r}... is {len(value)} characters long: use at most {GUEST_NAME_MAX}")
    if not GUEST_NAME.fullmatch(value):
        bad = next((c for c in value if not re.match(r"[a-zA-Z0-9_.-]", c)), None)
        if bad is not None:
            reason = f"contains {_describe_char(bad)}"
        else:
            reason = "must start with a letter or digit"
        raise ValueError(
            f"name {value!r} {reason}: use letters, digits and _.- only, starting with a letter or digit",
        )
    if value.isdigit():
        raise ValueError(f"name {value!r} is all digits, which xl reads as a domain id: add a letter, e.g. vm{value}")
    if value.lower() == "domain-0":
        raise ValueError("name Domain-0 is the control domain's: choose another name")
    return value


def check_bridge(value: str) -> str:
    if not BRIDGE_NAME.fullmatch(value):
        raise ValueError(f"bridge {value!r} is not a FreeBSD interface name: use e.g. bridge0")
    return value


def check_mac(value: str) -> str:
    """Lower-case, colon-separated, unicast, not all zero."""

    mac = value.lower()
    if not MAC_ADDRESS.fullmatch(mac):
        raise ValueError(f"mac {value!r} is not a MAC address: write six hex pairs like 00:16:3e:12:34:56")
    if int(mac[:2], 16) & 1:
        raise ValueError(f"mac {value!r} is a multicast address: the first octet must be even, e.g. 00:16:3e:...")
    if mac == "00:00:00:00:00:00":
        raise ValueError("mac 00:00:00:00:00:00 is not usable: omit mac to get a stable generated one")
    return mac


def check_vdev(value: str) -> str:
    if not VDEV_NAME.fullmatch(value):
        raise ValueError(f"vdev {value!r} is not a virtual disk name: use hda, hdb, ... sda, ... or xvda, ...")
    return value


def size_bytes(size: str) -> int:
    """``"20G"`` -> 21474836480. Units are powers of 1024, as in zfs(8) and truncate(1)."""

    match = SIZE.fullmatch(size) if isinstance(size, str) else None
    if not match:
        raise ValueError(f"size {size!r} is not a size: write it like 20G, 512M or 1T (K, M, G, T are powers of 1024)")
    return int(match.group(1)) * SIZE_UNITS[match.group(2)]


def check_size(value: str) -> str:
    size_bytes(value)
    return value


def check_dataset(value: str) -> str:
    """A ZFS volume name: pool/dataset[/...]."""

    if value.startswith("/"):
        raise ValueError(
            f"zvol {value!r} starts with '/': give the dataset name without /dev/zvol, e.g. zroot/xen/vm-disk0",
        )
    if len(value) > ZFS_NAME_MAX:
        raise ValueError(f"zvol {value[:20]!r}... is longer than {ZFS_NAME_MAX} characters: use a shorter name")
    parts = value.split("/")
    if len(parts) < 2:
        raise ValueError(f"zvol {value!r} is a pool, not a volume: use pool/dataset, e.g. zroot/xen/vm-disk0")
    for part in parts:
        if part in ("", ".", ".."):
            raise ValueError(f"zvol {value!r} has an empty, '.' or '..' component: use e.g. zroot/xen/vm-disk0")
        if not ZFS_COMPONENT.fullmatch(part):
            bad = next(c for c in part if not re.match(r"[A-Za-z0-9_.:-]", c))
            raise ValueError(
                f"zvol {value!r} contains {_describe_char(bad)}: ZFS names use letters, digits and _.:- only",
            )
    pool = parts[0]
    if not pool[0].isalpha():
        raise ValueError(f"zvol {value!r}: the pool name {pool!r} must start with a letter")
    if ZFS_RESERVED_POOL.fullmatch(pool):
        raise ValueError(f"zvol {value!r}: {pool!r} is a reserved word, not a pool name")
    return value


def check_path(value: str, what: str = "path") -> str:
    """An absolute, normalised host path that needs no quoting anywhere."""

    if not value.startswith("/"):
        raise ValueError(f"{what} {value!r} is not absolute: write the full path, e.g. /vm/guest.img")
    if len(value) > PATH_MAX:
        raise ValueError(f"{what} is longer than {PATH_MAX} characters: use a shorter path")
    bad = next((c for c in value if not PATH_CHARACTERS.fullmatch(c)), None)
    if bad is not None:
        raise ValueError(
            f"{what} {value!r} contains {_describe_char(bad)}: use letters, digits and _.+@:-/ only "
            "(the path goes into shell commands and comma-separated xl disk specs)",
        )
    if ".." in value.split("/"):
        raise ValueError(f"{what} {value!r} contains '..': write the path without it")
    normal = posixpath.normpath(value)
    if normal.startswith("//"):
        normal = "/" + normal.lstrip("/")
    if normal != value:
        raise ValueError(f"{what} {value!r} is not in normal form: write it as {normal}")
    if value == "/":
        raise ValueError(f"{what} '/' is a directory: name a file")
    return value


def system_tree_of(path: str) -> str | None:
    """The system tree (``SYSTEM_TREES``) that holds ``path``, or None. ``path`` is normalised first."""

    normal = posixpath.normpath(path)
    for tree in SYSTEM_TREES:
        if normal == tree or normal.startswith(tree + "/"):
            return tree
    if posixpath.dirname(normal) in SYSTEM_DIRECTORIES or normal in SYSTEM_DIRECTORIES:
        return posixpath.dirname(normal) if normal not in SYSTEM_DIRECTORIES else normal
    return None


def check_guest_file(value: str, what: str) -> str:
    """A file a guest owns (a disk image, an install medium): a normal path outside the system's trees."""

    check_path(value, what)
    tree = system_tree_of(value)
    if tree == "/dev":
        fix = "declare it as device instead" if what == "file" else "give the path of an ISO image file"
        raise ValueError(f"{what} {value!r} is under /dev: {fix}")
    if tree is not None:
        raise ValueError(
            f"{what} {value!r} is under {tree}, which belongs to the system: keep guests' disks and media "
            "elsewhere, e.g. /vm/NAME.img or /var/lib/xen/iso/NAME.iso",
        )
    return value


def check_disk_device(value: str) -> str:
    """A disk device node under /dev (ada1, da0p3, nvd0, gpt/LABEL, zvol/POOL/VOL, ...)."""

    check_path(value, "device")
    if not value.startswith("/dev/"):
        raise ValueError(f"device {value!r} is not under /dev/: give a device node like /dev/ada1")
    if not DISK_DEVICE.fullmatch(value):
        raise ValueError(
            f"device {value!r} is not a disk: give a disk or partition (/dev/ada1, /dev/da0p3, /dev/nvd0) "
            "or a GEOM label (/dev/gpt/NAME, /dev/zvol/POOL/VOLUME)",
        )
    return value


def devices_overlap(first: str, second: str) -> bool:
    """
    Whether two device paths share blocks: one is the other, or a partition of
    it (ada1, ada1p2, ada1s1a), or a ZFS dataset inside the other
    (/dev/zvol/zroot/xen and /dev/zvol/zroot/xen/web: one cannot be a volume
    while the other exists, and destroying one concerns the other).
    """

    if first == second:
        return True
    shorter, longer = sorted((first, second), key=len)
    if shorter.startswith("/dev/zvol/"):
        # Volumes are made with volmode=dev: no partitions, only datasets inside datasets.
        return longer.startswith(shorter + "/")
    rest = longer[len(shorter):]
    return longer.startswith(shorter) and re.fullmatch(r"(?:[ps][0-9]+)?[a-h]?", rest) is not None and rest != ""


def check_xl_string(value: str, what: str) -> str:
    """
    A value that goes between quotes in xl.cfg. Quotes and backslashes are
    carried (the renderer escapes them as libxlutil reads them); a newline or
    another control character cannot be, in any xl string.
    """

    bad = next((c for c in value if not c.isprintable()), None)
    if bad is not None:
        raise ValueError(
            f"{what} contains {_describe_char(bad)}: xl config strings cannot hold newlines, tabs or other "
            "control characters; remove it",
        )
    return value
