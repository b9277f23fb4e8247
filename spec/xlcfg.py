"""
xl.cfg rendering: the content of /usr/local/etc/xen/<name>.cfg for one guest.

    >>> from spec.guest import GuestSpec
    >>> guest = GuestSpec(name="freebsd", memory=1024, vcpus=2,
    ...                   disks=[{"zvol": "zroot/xen/freebsd-disk0", "size": "20G"}])
    >>> disk_specs(guest)
    ['format=raw, vdev=hda, access=rw, target=/dev/zvol/zroot/xen/freebsd-disk0']

Forms chosen (xl.cfg(5), xl-disk-configuration(5), xl-network-configuration(5)):

* ``type = "hvm"``, never the deprecated ``builder``. (``type`` exists since Xen
  4.10; a Xen 4.7 host would ignore it and build a PV guest.)
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
double quotes and spec strings in single quotes (xl takes either). Values that
would need escaping are refused (the schema already refuses them).
"""

from __future__ import annotations

from .guest import GuestSpec
from .mac import stable_mac

HEADER = "# Managed by pyinfra (freebsd-xen); edits will be overwritten."
CONFIG_DIR = "/usr/local/etc/xen"
REDACTED = "********"

__all__ = [
    "CONFIG_DIR",
    "HEADER",
    "boot_order",
    "config_mode",
    "config_path",
    "disk_specs",
    "render_xl_cfg",
    "vif_macs",
    "vif_specs",
]


def _unquotable(value: str) -> str | None:
    for char in value:
        if char in "'\"\\\n\r" or not char.isprintable():
            return char
    return None


def _quote(value: str, quote: str = '"') -> str:
    bad = _unquotable(value)
    if bad is not None:
        # The schema refuses these; reaching here means a caller bypassed it.
        raise ValueError(f"{value!r} cannot be written as an xl config string: it contains {bad!r}")
    return f"{quote}{value}{quote}"


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


def render_xl_cfg(guest: GuestSpec, *, redact_secrets: bool = False) -> str:
    """The config file's text. ``redact_secrets`` masks passwords (for showing diffs)."""

    lines = [HEADER]

    def put(key: str, rendered: str) -> None:
        lines.append(f"{key} = {rendered}")

    put("name", _quote(guest.name))
    put("type", _quote(guest.type))
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
        if redact_secrets and key == "spicepasswd":
            value = REDACTED
        put(key, _value(value))
    return "\n".join(lines) + "\n"
