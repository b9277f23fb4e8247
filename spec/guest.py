"""
One DomU guest declaration: the project's public interface for guests.

    >>> guest = GuestSpec(name="freebsd", memory=1024, vcpus=2,
    ...                   disks=[{"zvol": "zroot/xen/freebsd-disk0", "size": "20G"}],
    ...                   cdrom={"path": "/var/lib/xen/iso/freebsd.iso"},
    ...                   vifs=[{"bridge": "bridge0"}])
    >>> guest.disks[0].vdev, guest.cdrom.vdev, guest.disks[0].target
    ('hda', 'hdc', '/dev/zvol/zroot/xen/freebsd-disk0')

Everything is checked up front and strictly (unknown keys, wrong types and
values that would need quoting are refused), because every value ends up in a
shell command on the Dom0 or in the xl config file. Each error message names the
key and says what to write instead.

Defaults filled in by validation (so the renderer and the operations see one
resolved model): each disk's ``vdev`` (hda, hdb, ... for hvm; xvda, ... for
pv/pvh; in order, skipping names given explicitly), the cdrom's ``vdev`` (hdc,
the IDE secondary master, as in the FreeBSD Handbook, or the next free name),
and ``vnc`` for hvm guests (a console on 127.0.0.1 unless ``vnc`` is given as
``None``). MAC addresses stay ``None`` when omitted: ``spec.mac.stable_mac``
derives them from the guest's name when the config is rendered.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .names import (
    VDEV_NAME,
    ZVOL_SIZE_MULTIPLE,
    check_bridge,
    check_dataset,
    check_disk_device,
    check_guest_file,
    check_guest_name,
    check_mac,
    check_size,
    check_vdev,
    check_xl_string,
    size_bytes,
)

__all__ = [
    "CdromSpec",
    "DiskSpec",
    "EXTRA_KEYS",
    "GuestSpec",
    "MANAGED_KEYS",
    "VifSpec",
    "VncSpec",
    "size_bytes",
    "vdev_index",
]

SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")
# What fetch(1) gets; the operations still shell-quote it.
URL = re.compile(r"\A(https?|ftp)://[A-Za-z0-9._~:/?=&%+@,-]+\Z")
SERIAL_VALUE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.,:/=@+-]*\Z")
USB_DEVICE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]*\Z")
VNC_PASSWORD_MAX = 8
MAX_VCPUS = 512

# xl.cfg(5) keys (Xen's docs/man/xl.cfg.5.pod.in) a guest may set through
# ``extra``. The keys this project renders itself are in MANAGED_KEYS instead.
EXTRA_KEYS = frozenset(
    """
    pool cpus cpus_soft cpu_weight cap vnuma
    on_poweroff on_reboot on_watchdog on_crash on_soft_reset
    kernel ramdisk cmdline root extra firmware
    pvshim pvshim_path pvshim_cmdline pvshim_extra
    uuid seclabel init_seclabel max_grant_frames max_maptrack_frames max_grant_version
    nomigrate driver_domain device_tree passthrough xend_suspend_evtchn_compat
    vmtrace_buf_kb vpmu
    vtpm p9 pvcalls vfb channel rdm usbctrl usbdev
    pci pci_permissive pci_msitranslate pci_seize pci_power_mgmt gfx_passthru
    rdm_mem_boundary dtdev ioports iomem irqs max_event_channels vdispl
    dm_restrict device_model_user vsnd vkb virtio tee
    bootloader bootloader_args bootloader_restrict bootloader_user e820_host
    hdtype hap oos shadow_memory
    bios bios_path_override pae acpi acpi_s3 acpi_s4 acpi_laptop_slate apic nx hpet
    altp2m nestedhvm cpuid acpi_firmware smbios_firmware smbios ms_vm_genid
    tsc_mode localtime rtc_timeoffset vpt_align timer_mode mmio_hole
    xen_platform_pci viridian hvm_pirq
    videoram vga keymap sdl opengl nographic
    spice spicehost spiceport spicetls_port spicedisable_ticketing spicepasswd
    spiceagent_mouse spicevdagent spice_clipboard_sharing spiceusbredirection
    spice_image_compression spice_streaming_video
    soundhw vkb_device usbversion vendor_device
    device_model_version device_model_override stubdomain_kernel stubdomain_cmdline
    stubdomain_ramdisk stubdomain_memory device_model_stubdomain_override
    device_model_stubdomain_seclabel device_model_args device_model_args_pv
    device_model_args_hvm
    gic_version vuart sve mca_caps msr_relaxed
    """.split(),
)

# xl.cfg keys rendered from the guest's own keys (or deprecated): the fix for each.
MANAGED_KEYS = {
    "name": "set the guest's name key",
    "type": "set the guest's type key",
    "builder": "builder is deprecated in xl.cfg(5): set the guest's type key (hvm, pvh or pv)",
    "memory": "set the guest's memory key",
    "maxmem": "set the guest's maxmem key",
    "vcpus": "set the guest's vcpus key",
    "maxvcpus": "set the guest's maxvcpus key",
    "disk": "declare disks in the guest's disks list (and the install medium in cdrom)",
    "vif": "declare interfaces in the guest's vifs list",
    "vnc": "use the guest's vnc key ({'listen': ..., 'password': ...}, or None for no VNC)",
    "vnclisten": "use the guest's vnc key: {'listen': '127.0.0.1'}",
    "vncpasswd": "use the guest's vnc key: {'password': ...}",
    "vncdisplay": "the display is chosen by xl (vncunused): use xl vncviewer to find it",
    "vncunused": "the display is chosen by xl (vncunused): use xl vncviewer to find it",
    "serial": "set the guest's serial key",
    "usbdevice": "set the guest's usbdevice key",
    "usb": "set the guest's usbdevice key; usb = 1 is rendered with it",
    "boot": "the boot order follows installed: 'dc' (cdrom first) while installing, 'c' once installed",
    "stdvga": "stdvga is deprecated in xl.cfg(5): use extra vga = 'stdvga'",
    "altp2mhvm": "altp2mhvm is deprecated in xl.cfg(5): use extra altp2m",
}

# Names people write that xl.cfg(5) spells differently.
EXTRA_ALIASES = {"cpu_cap": "cap", "cpu_pool": "pool", "cpupool": "pool"}

SYNTAX_HINT = "write it as a plain value, e.g. extra = {'on_crash': 'restart', 'acpi': True}"


def vdev_index(vdev: str) -> int:
    """The disk number a vdev names: hda, sda and xvda are all disk 0 (xen-vbd-interface(7))."""

    letters = VDEV_NAME.fullmatch(vdev)
    if not letters:
        raise ValueError(f"{vdev!r} is not a vdev")
    suffix = vdev[len(letters.group(1)):]
    number = 0
    for letter in suffix:
        number = number * 26 + (ord(letter) - ord("a") + 1)
    return number - 1


def _vdev_name(prefix: str, index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return prefix + letters


def _strict_int(value: Any, key: str, example: str, minimum: int = 1, maximum: int | None = None) -> Any:
    """Clear messages for the usual mistakes: '1024M', 1024.0, True, 0."""

    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be a whole number{example} (got {value!r})")
    if value < minimum:
        raise ValueError(f"{key} must be at least {minimum} (got {value})")
    if maximum is not None and value > maximum:
        raise ValueError(f"{key} must be at most {maximum} (got {value})")
    return value


class _Strict(BaseModel):
    # hide_input_in_errors: an error's text must never echo the vnc password.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, hide_input_in_errors=True)


class DiskSpec(_Strict):
    """One disk: exactly one of ``zvol`` (created with zfs), ``file`` (created with
    truncate) or ``device`` (used as is)."""

    zvol: str | None = None
    file: str | None = None
    device: str | None = None
    size: str | None = None
    sparse: bool = False
    vdev: str | None = None

    @field_validator("zvol")
    @classmethod
    def _zvol(cls, value: str | None) -> str | None:
        return None if value is None else check_dataset(value)

    @field_validator("file")
    @classmethod
    def _file(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_guest_file(value, "file")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_disk_device(value)

    @field_validator("size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        return None if value is None else check_size(value)

    @field_validator("vdev")
    @classmethod
    def _vdev(cls, value: str | None) -> str | None:
        return None if value is None else check_vdev(value)

    @model_validator(mode="after")
    def _one_backing(self) -> "DiskSpec":
        given = [key for key in ("zvol", "file", "device") if getattr(self, key) is not None]
        if len(given) != 1:
            which = " and ".join(given) if given else "none of them"
            raise ValueError(
                f"a disk needs exactly one of zvol, file or device (got {which}): "
                "e.g. {'zvol': 'zroot/xen/vm-disk0', 'size': '20G'}",
            )
        if self.device is not None:
            if self.size is not None:
                raise ValueError("size does not apply to a device disk (it is used as is): remove size")
        elif self.size is None:
            raise ValueError(f"a {given[0]} disk needs a size, e.g. 'size': '20G'")
        if self.sparse and self.zvol is None:
            raise ValueError(
                "sparse applies to zvol disks only (file disks made by truncate are always sparse): remove sparse",
            )
        if self.zvol is not None and size_bytes(self.size) % ZVOL_SIZE_MULTIPLE:
            raise ValueError(
                f"zvol size {self.size} is not a multiple of 16K, which zfs refuses for a volume: use M, G or T",
            )
        return self

    @property
    def kind(self) -> Literal["zvol", "file", "device"]:
        if self.zvol is not None:
            return "zvol"
        return "file" if self.file is not None else "device"

    @property
    def target(self) -> str:
        """The path on the Dom0 that xl opens."""

        if self.zvol is not None:
            return f"/dev/zvol/{self.zvol}"
        return self.file if self.file is not None else self.device  # type: ignore[return-value]

    @property
    def size_bytes(self) -> int | None:
        return None if self.size is None else size_bytes(self.size)


class CdromSpec(_Strict):
    """The install medium: an ISO at ``path``, fetched from ``url`` when given."""

    path: str
    url: str | None = None
    sha256: str | None = None
    vdev: str | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_guest_file(value, "cdrom path")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not URL.fullmatch(value):
            raise ValueError(
                f"cdrom url {value!r} is not a plain http(s)/ftp URL: spaces, quotes, $, ;, ` and "
                "parentheses are not allowed; percent-encode them",
            )
        return value

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digest = value.lower()
        if not SHA256.fullmatch(digest):
            raise ValueError(f"cdrom sha256 {value!r} is not a SHA-256 digest: give the 64 hex digits from CHECKSUM.SHA256")
        return digest

    @field_validator("vdev")
    @classmethod
    def _vdev(cls, value: str | None) -> str | None:
        return None if value is None else check_vdev(value)

    @model_validator(mode="after")
    def _verified_download(self) -> "CdromSpec":
        if self.url is not None and self.sha256 is None:
            raise ValueError(
                "cdrom url needs sha256 so the download is verified: copy it from the release's CHECKSUM.SHA256 file",
            )
        return self


class VifSpec(_Strict):
    """A network interface on a Dom0 bridge. Without ``mac`` a stable one is derived."""

    bridge: str
    mac: str | None = None

    @field_validator("bridge")
    @classmethod
    def _bridge(cls, value: str) -> str:
        return check_bridge(value)

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        return None if value is None else check_mac(value)


class VncSpec(_Strict):
    """VNC console of an hvm guest."""

    listen: str = "127.0.0.1"
    # repr=False: the password must not show up wherever a spec is printed or logged.
    password: str | None = Field(default=None, repr=False)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"vnc listen {value!r} is not an IPv4 address: use e.g. 127.0.0.1 or 0.0.0.0") from None
        if address.version != 4:
            raise ValueError(f"vnc listen {value!r} is IPv6, which xl's vnclisten cannot take: use an IPv4 address")
        return str(address)

    @field_validator("password")
    @classmethod
    def _password(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value == "":
            raise ValueError("vnc password is empty, which disables authentication: omit password instead, or set one")
        if len(value) > VNC_PASSWORD_MAX:
            raise ValueError(
                f"vnc password is {len(value)} characters long: VNC authentication uses only the first "
                f"{VNC_PASSWORD_MAX}, so use at most {VNC_PASSWORD_MAX}",
            )
        if not all(" " <= c <= "~" for c in value):
            # VNC authentication (RFB's DES challenge) takes bytes; qemu reads the password as ASCII.
            raise ValueError("vnc password contains a non-printable or non-ASCII character: use printable ASCII only")
        # Quotes and backslashes are fine: the renderer escapes them as libxlutil reads them.
        return value


ExtraValue = str | int | bool | list[str]


class GuestSpec(_Strict):
    """One guest. Field names are the declaration's keys."""

    name: str
    memory: int
    maxmem: int | None = None
    vcpus: int = 1
    maxvcpus: int | None = None
    type: Literal["hvm", "pvh", "pv"] = "hvm"
    disks: list[DiskSpec] = Field(default_factory=list)
    cdrom: CdromSpec | None = None
    vifs: list[VifSpec] = Field(default_factory=list)
    vnc: VncSpec | None = None
    serial: str | None = None
    usbdevice: list[str] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    state: Literal["running", "stopped", "absent"] = "running"
    installed: bool = False
    autostart: bool = True
    destroy_disks: bool = False
    restart_on_change: bool = False
    # When the declaration moves to another Dom0 and the guest's zvols are local to
    # this one, replicate them there (operations.zfsmove) instead of refusing.
    move_disks: bool = False
    # zfs snapshots of its zvols before a restart, the installed switch and state absent
    # (operations.snapshots); False: none
    safety_snapshots: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_guest_name(value)

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> Any:
        return _strict_int(value, "memory", " of MiB, e.g. 1024 for 1 GiB")

    @field_validator("maxmem", mode="before")
    @classmethod
    def _maxmem(cls, value: Any) -> Any:
        return value if value is None else _strict_int(value, "maxmem", " of MiB, e.g. 2048")

    @field_validator("vcpus", mode="before")
    @classmethod
    def _vcpus(cls, value: Any) -> Any:
        return _strict_int(value, "vcpus", ", e.g. 2", maximum=MAX_VCPUS)

    @field_validator("maxvcpus", mode="before")
    @classmethod
    def _maxvcpus(cls, value: Any) -> Any:
        return value if value is None else _strict_int(value, "maxvcpus", ", e.g. 4", maximum=MAX_VCPUS)

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        if value not in ("hvm", "pvh", "pv"):
            raise ValueError(f"type {value!r} is not a guest type: use hvm, pvh or pv")
        return value

    @field_validator("serial")
    @classmethod
    def _serial(cls, value: str | None) -> str | None:
        if value is not None and not SERIAL_VALUE.fullmatch(value):
            raise ValueError(f"serial {value!r} is not a qemu serial device: use e.g. pty")
        return value

    @field_validator("usbdevice", mode="before")
    @classmethod
    def _usbdevice(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            for device in value:
                if not isinstance(device, str) or not USB_DEVICE.fullmatch(device):
                    raise ValueError(f"usbdevice {device!r} is not a qemu USB device: use e.g. tablet")
            if len(set(value)) != len(value):
                raise ValueError("usbdevice lists a device twice: list each once")
        return value

    @field_validator("extra", mode="before")
    @classmethod
    def _extra(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(f"extra must be a mapping of xl.cfg keys to values, {SYNTAX_HINT}")
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"extra key {key!r} is not a string: use xl.cfg(5) key names")
            if key in MANAGED_KEYS:
                raise ValueError(f"extra key {key} is managed by this project: {MANAGED_KEYS[key]}")
            if key not in EXTRA_KEYS:
                guess = [EXTRA_ALIASES[key]] if key in EXTRA_ALIASES else difflib.get_close_matches(
                    key, sorted(EXTRA_KEYS), n=1,
                )
                hint = f"did you mean {guess[0]}?" if guess else "see xl.cfg(5) for the keys"
                raise ValueError(f"extra key {key!r} is not an xl.cfg(5) option: {hint}")
            _check_extra_value(key, item)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "GuestSpec":
        if self.maxmem is not None and self.maxmem < self.memory:
            raise ValueError(
                f"maxmem ({self.maxmem}) is below memory ({self.memory}): raise maxmem or lower memory",
            )
        if self.maxvcpus is not None and self.maxvcpus < self.vcpus:
            raise ValueError(
                f"maxvcpus ({self.maxvcpus}) is below vcpus ({self.vcpus}): raise maxvcpus or lower vcpus",
            )
        if self.destroy_disks and self.state != "absent":
            raise ValueError(
                f"destroy_disks applies only with state 'absent' (state is {self.state!r}): "
                "remove destroy_disks, or set state 'absent' to delete the guest and its disks",
            )
        if self.type != "hvm":
            for key in ("serial", "usbdevice"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key} applies to hvm guests only (type is {self.type}): remove {key}")
        if self.usbdevice and "usbversion" in self.extra:
            raise ValueError("extra usbversion cannot be combined with usbdevice (xl.cfg(5)): remove one of them")
        self._check_unique_targets()
        self._resolve_vdevs()
        self._check_unique_macs()
        if "vnc" not in self.model_fields_set and self.type == "hvm":
            self.__dict__["vnc"] = VncSpec()
        return self

    def _check_unique_targets(self) -> None:
        seen: set[str] = set()
        for disk in self.disks:
            if disk.target in seen:
                raise ValueError(f"two disks use {disk.target}: give each disk its own zvol, file or device")
            seen.add(disk.target)
        if self.cdrom is not None and self.cdrom.path in seen:
            raise ValueError(f"cdrom path {self.cdrom.path} is also a disk: use a separate ISO file")

    def _resolve_vdevs(self) -> None:
        """Fill in missing vdevs and refuse two names for one disk number."""

        prefix = "hd" if self.type == "hvm" else "xvd"
        used: dict[int, str] = {}

        def claim(vdev: str) -> None:
            number = vdev_index(vdev)
            if number in used:
                other = used[number]
                same = "is given twice" if other == vdev else f"and {other} name the same disk (number {number})"
                raise ValueError(f"vdev {vdev} {same}: give each disk a different vdev")
            used[number] = vdev

        for disk in self.disks:
            if disk.vdev is not None:
                claim(disk.vdev)
        if self.cdrom is not None and self.cdrom.vdev is not None:
            claim(self.cdrom.vdev)

        def next_free(start: int = 0) -> str:
            number = start
            while number in used:
                number += 1
            return _vdev_name(prefix, number)

        disks = []
        for disk in self.disks:
            if disk.vdev is None:
                vdev = next_free()
                claim(vdev)
                disk = disk.model_copy(update={"vdev": vdev})
            disks.append(disk)
        self.__dict__["disks"] = disks
        if self.cdrom is not None and self.cdrom.vdev is None:
            # hdc: the IDE secondary master, where the Handbook puts the ISO.
            vdev = next_free(2 if self.type == "hvm" else 0)
            claim(vdev)
            self.__dict__["cdrom"] = self.cdrom.model_copy(update={"vdev": vdev})

    def _check_unique_macs(self) -> None:
        macs = [vif.mac for vif in self.vifs if vif.mac is not None]
        for mac in macs:
            if macs.count(mac) > 1:
                raise ValueError(f"mac {mac} is used by two vifs: give each its own or omit mac")

    # Derived values

    @property
    def cdrom_attached(self) -> bool:
        """The cdrom is attached only while installing."""

        return self.cdrom is not None and not self.installed

    @property
    def cdrom_vdev(self) -> str | None:
        """The cdrom's resolved vdev (also at ``cdrom.vdev``)."""

        return None if self.cdrom is None else self.cdrom.vdev

    @property
    def has_secrets(self) -> bool:
        """The rendered config holds a password: write it mode 0600."""

        return (self.vnc is not None and self.vnc.password is not None) or any(
            holds_secret(key, value) for key, value in self.extra.items()
        )


SECRET_WORD = re.compile(r"passw", re.IGNORECASE)


def holds_secret(key: str, value: Any) -> bool:
    """An ``extra`` entry that carries a password: a *passw* key (spicepasswd), or
    a string holding one (``vfb = ['vnc=1,vncpasswd=...']``)."""

    if SECRET_WORD.search(key):
        return True
    items = value if isinstance(value, list) else [value]
    return any(isinstance(item, str) and SECRET_WORD.search(item) for item in items)


def _check_extra_value(key: str, value: Any) -> None:
    what = f"extra {key}"
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        return
    if isinstance(value, str):
        check_xl_string(value, what)
        return
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                # The item's type, not the item: a list may carry a secret.
                raise ValueError(f"{what} lists a {type(item).__name__}: list items must be strings, e.g. ['0000:03:00.0']")
            check_xl_string(item, what)
        return
    raise ValueError(f"{what} is a {type(value).__name__}: use a string, an integer, a boolean or a list of strings")
