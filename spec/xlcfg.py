"""
xl.cfg rendering: the content of /usr/local/etc/xen/<name>.cfg for one guest.

    >>> from spec.guest import GuestSpec
    >>> guest = GuestSpec(name="freebsd", memory=1024, vcpus=2,
    ...                   disks=[{"zvol": "zroot/xen/freebsd-disk0", "size": "20G"}])
    >>> disk_specs(guest)
    ['format=raw, vdev=hda, access=rw, target=/dev/zvol/zroot/xen/freebsd-disk0']

Forms chosen (xl.cfg(5), xl-disk-configuration(5), xl-network-configuration(5)):

* ``type = "hvm"``, never the deprecated ``builder``, on Xen 4.10 and later.
  Xen 4.7's xl has no ``type`` key: it ignores it and builds a PV guest
  (``Neither kernel nor bootloader specified``), so for a Dom0 before 4.10 an hvm
  guest is written with ``builder = "hvm"``, a pv guest with neither (PV is the
  default) and a pvh guest is refused (``type_line``).
* disks in key=value form with ``target=`` last (it is the one field that may
  contain commas; our validation forbids them anyway); the cdrom only while
  installing, read-only with ``devtype=cdrom``.
* ``boot = "dc"`` (cdrom first) while installing and ``"c"`` once installed (hvm).
* every vif with an explicit ``bridge=`` and ``mac=`` (``spec.mac.stable_mac``
  when the declaration has none) so a re-render never changes the address.
* ``vnc``/``vnclisten`` always explicit for hvm; ``vncpasswd`` only with a
  password (then write the file mode ``config_mode(guest)`` = 0600).
* ``serial = "pty"`` (the single-string form every xl accepts) and
  ``usb = 1`` + ``usbdevice = [ "tablet" ]``: the list form xl.cfg(5) documents,
  with the USB bus enabled as it asks.

The output is deterministic: fixed key order, ``extra`` keys sorted, strings in
double quotes and spec strings in single quotes (xl takes either). Quotes and
backslashes inside a string are escaped with a backslash, as libxlutil reads
them; control characters (newlines above all) are refused (the schema already
refuses them). The first line is ``MANAGED_MARKER``.
"""

from __future__ import annotations

import re

from .guest import SECRET_WORD, GuestSpec, holds_secret
from .mac import stable_mac

# The first line of every config this project writes: how a Dom0's configs that
# are ours are told from an admin's own (only ours are ever migrated, stopped or
# removed on behalf of another Dom0's declaration). A comment to libxlutil.
MANAGED_MARKER = "# Managed by pyinfra-freebsd-xen (deploys/guests.py): edits are overwritten"
# The marker that earlier versions wrote: their configs are ours too.
EARLIER_MARKERS = ("# Managed by pyinfra (freebsd-xen); edits will be overwritten.",)
HEADER = MANAGED_MARKER
CONFIG_DIR = "/usr/local/etc/xen"
REDACTED = "********"

__all__ = [
    "CONFIG_DIR",
    "EARLIER_MARKERS",
    "HEADER",
    "MANAGED_MARKER",
    "boot_order",
    "config_mode",
    "config_path",
    "is_managed_config",
    "mask_secret_lines",
    "disk_specs",
    "render_xl_cfg",
    "type_line",
    "vif_macs",
    "vif_specs",
]


def _unquotable(value: str) -> str | None:
    """The first character no xl string can carry: newlines and other control characters."""

    for char in value:
        if not char.isprintable():
            return char
    return None


def _quote(value: str, quote: str = '"') -> str:
    """
    An xl config string holding ``value`` exactly. libxlutil's lexer
    (libxlu_cfg_l.l, xlu__cfgl_dequote) reads a backslash before a quote or a
    backslash as that character; both are escaped so any printable value
    round-trips (checked with libxlutil itself in tests/unit/test_xlcfg.py).
    Its octal and hex escapes are not used: 4.17 mis-reads both.
    """

    bad = _unquotable(value)
    if bad is not None:
        # The schema refuses these; reaching here means a caller bypassed it.
        raise ValueError(f"a value cannot be written as an xl config string: it contains {bad!r}")
    escaped = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return f"{quote}{escaped}{quote}"


def _spec_field(value: str) -> str:
    # ',' separates a spec's fields; '=' separates key and value.
    if "," in value or "=" in value:
        raise ValueError(f"{value!r} cannot go into an xl device spec: it contains ',' or '='")
    return value


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        # xl's lexer has no negative numbers; its number getters accept a quoted one.
        return str(value) if value >= 0 else _quote(str(value))
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, list):
        return _list([_quote(item) for item in value])
    raise TypeError(f"cannot render {value!r} as an xl value")


def _list(items: list[str]) -> str:
    if not items:
        return "[ ]"
    if len(items) == 1:
        return f"[ {items[0]} ]"
    return "[\n" + "".join(f"    {item},\n" for item in items) + "]"


def disk_specs(guest: GuestSpec) -> list[str]:
    """The ``disk`` entries, in order: the disks, then the cdrom while installing."""

    specs = []
    for disk in guest.disks:
        specs.append(
            f"format=raw, vdev={_spec_field(disk.vdev or '')}, access=rw, target={_spec_field(disk.target)}",
        )
    if guest.cdrom_attached:
        assert guest.cdrom is not None
        specs.append(
            f"format=raw, vdev={_spec_field(guest.cdrom.vdev or '')}, access=ro, devtype=cdrom, "
            f"target={_spec_field(guest.cdrom.path)}",
        )
    for spec in specs:
        if "vdev=," in spec:
            raise ValueError("a disk has no vdev: build the guest with GuestSpec so vdevs are assigned")
    return specs


def vif_macs(guest: GuestSpec) -> list[str]:
    """Each vif's MAC: the declared one, or the stable one for this guest and index."""

    return [vif.mac or stable_mac(guest.name, index) for index, vif in enumerate(guest.vifs)]


def vif_specs(guest: GuestSpec) -> list[str]:
    """The ``vif`` entries: explicit type, mac and bridge for each interface."""

    return [
        f"type=vif, mac={mac}, bridge={_spec_field(vif.bridge)}"
        for vif, mac in zip(guest.vifs, vif_macs(guest))
    ]


def boot_order(guest: GuestSpec) -> str | None:
    """hvm only: cdrom first while it is attached, else the disk."""

    if guest.type != "hvm":
        return None
    return "dc" if guest.cdrom_attached else "c"


def config_path(guest: GuestSpec | str) -> str:
    """Where a guest's config lives (xl create wants this absolute path)."""

    name = guest if isinstance(guest, str) else guest.name
    return f"{CONFIG_DIR}/{name}.cfg"


def config_mode(guest: GuestSpec) -> int:
    """0600 when the file holds a password (vncpasswd, spicepasswd), else 0644."""

    return 0o600 if guest.has_secrets else 0o644


# In a spec string (vfb's "vnc=1,vncpasswd=x"): a password field up to the next comma.
PASSWORD_FIELD = re.compile(r"([A-Za-z_]*passw[A-Za-z_]*=)[^,]*", re.IGNORECASE)


def _redacted(key: str, value: object) -> object:
    if SECRET_WORD.search(key):
        return REDACTED
    if isinstance(value, list):
        return [PASSWORD_FIELD.sub(r"\1" + REDACTED, item) for item in value]
    return PASSWORD_FIELD.sub(r"\1" + REDACTED, str(value))


# A line that mentions a password, whole: "vncpasswd", "spicepasswd", a vfb string's "vncpasswd=".
SECRET_LINE = re.compile(r"passw", re.IGNORECASE)
KEY_PREFIX = re.compile(r"^(\s*[a-z][._0-9a-z]*\s*=)")


def mask_secret_lines(text: str) -> str:
    """
    ``text`` with every line that mentions a password replaced by ``REDACTED``
    (after its ``key =`` when it has one), and the further lines of a list
    opened on such a line, up to its closing ``]`` line: what ``--diff`` shows
    of a guest config. The same rule runs on the host (``MASK_SECRET_LINES_AWK``)
    so the config there is masked before it leaves the host.
    """

    out, in_secret_list = [], False
    for line in text.splitlines(True):
        ending = "\n" if line.endswith("\n") else ""
        body = line[: len(line) - len(ending)]
        if in_secret_list:
            if body.strip() == "]":
                in_secret_list = False
                out.append(line)
            else:
                out.append(f"    {REDACTED}{ending}")
            continue
        if SECRET_LINE.search(body):
            key = KEY_PREFIX.match(body)
            out.append(f"{key.group(1)} {REDACTED}{ending}" if key else f"    {REDACTED}{ending}")
            in_secret_list = bool(key) and body.rstrip().endswith("[")
            continue
        out.append(line)
    return "".join(out)


# mask_secret_lines in POSIX awk (FreeBSD's one-true-awk): no IGNORECASE, no backreferences.
MASK_SECRET_LINES_AWK = r"""
secret { if ($0 ~ /^[ 	]*\][ 	]*$/) { secret = 0; print; } else print "    """ + REDACTED + r""""; next }
tolower($0) ~ /passw/ {
    if (match($0, /^[ 	]*[a-z][._0-9a-z]*[ 	]*=/)) {
        print substr($0, 1, RLENGTH) " """ + REDACTED + r"""";
        line = $0; sub(/[ 	]+$/, "", line);
        if (line ~ /\[$/) secret = 1
    } else print "    """ + REDACTED + r"""";
    next
}
{ print }
"""


def is_managed_config(text: str) -> bool:
    """Whether a config file's text was written by this project (its first line is our marker)."""

    first_line = text.split("\n", 1)[0].rstrip("\r")
    return first_line == MANAGED_MARKER or first_line in EARLIER_MARKERS


# The first Xen whose xl reads ``type`` (xl.cfg(5) of 4.10: "builder" deprecated).
TYPE_KEY_SINCE = (4, 10)


def type_line(guest: GuestSpec, xen: tuple[int, int] | None = None) -> tuple[str, str] | None:
    """
    The key and rendered value that give the guest its type under Xen ``xen``
    (``(major, minor)``, ``None``: a current one), or None when the default (PV)
    needs no key. Raises ``ValueError`` for a type that Xen cannot build.
    """

    if xen is None or tuple(xen) >= TYPE_KEY_SINCE:
        return ("type", _quote(guest.type))
    if guest.type == "hvm":
        return ("builder", _quote("hvm"))
    if guest.type == "pv":
        return None
    raise ValueError(
        f"guest {guest.name}: type {guest.type!r} needs Xen 4.10 or later (this Dom0 runs Xen "
        f"{xen[0]}.{xen[1]}, whose xl has no type key and no PVH guests): use type 'hvm' or 'pv'",
    )


def render_xl_cfg(guest: GuestSpec, *, redact_secrets: bool = False, xen: tuple[int, int] | None = None) -> str:
    """
    The config file's text for a Dom0 running Xen ``xen`` (``(major, minor)``;
    ``None``: 4.10 or later). ``redact_secrets`` masks passwords (for showing diffs).
    """

    lines = [MANAGED_MARKER]

    def put(key: str, rendered: str) -> None:
        lines.append(f"{key} = {rendered}")

    put("name", _quote(guest.name))
    typed = type_line(guest, xen)
    if typed is not None:
        put(*typed)
    put("memory", str(guest.memory))
    if guest.maxmem is not None:
        put("maxmem", str(guest.maxmem))
    put("vcpus", str(guest.vcpus))
    if guest.maxvcpus is not None:
        put("maxvcpus", str(guest.maxvcpus))

    put("disk", _list([_quote(spec, "'") for spec in disk_specs(guest)]))
    boot = boot_order(guest)
    if boot is not None:
        put("boot", _quote(boot))
    put("vif", _list([_quote(spec, "'") for spec in vif_specs(guest)]))

    if guest.vnc is not None:
        put("vnc", "1")
        put("vnclisten", _quote(guest.vnc.listen))
        if guest.vnc.password is not None:
            put("vncpasswd", _quote(REDACTED if redact_secrets else guest.vnc.password))
    elif guest.type == "hvm":
        put("vnc", "0")
    if guest.serial is not None:
        put("serial", _quote(guest.serial))
    if guest.usbdevice:
        put("usb", "1")
        put("usbdevice", _list([_quote(device) for device in guest.usbdevice]))

    for key in sorted(guest.extra):
        value = guest.extra[key]
        if redact_secrets and holds_secret(key, value):
            value = _redacted(key, value)
        put(key, _value(value))
    return "\n".join(lines) + "\n"
