"""
xl.cfg rendering, checked by Xen's own parser (libxlutil 4.17 through tests/xlparse.py).

The reference guest is the FreeBSD Handbook's (chapter Virtualization, "Xen DomU
Guest VM Configuration"): 1 GiB, two vCPUs, a 20 GB ZFS volume as hda, the
FreeBSD ISO as the hdc cdrom, a vif with MAC 00:16:3E:74:34:32 on bridge0, VNC,
serial = "pty" and a tablet. The Handbook's volume is zroot/xendisk0; here it is
zroot/xen/freebsd-disk0 as in the project's example.
"""

import re

import pytest

from spec.guest import GuestSpec
from spec.mac import stable_mac
from spec.xlcfg import (
    EARLIER_MARKERS,
    HEADER,
    MANAGED_MARKER,
    boot_order,
    config_mode,
    config_path,
    disk_specs,
    is_managed_config,
    render_xl_cfg,
    vif_macs,
    vif_specs,
)
from tests import xlparse

xlparse.require_libxlutil()

ISO = "/var/lib/xen/iso/freebsd.iso"


def handbook_guest(**overrides):
    data = {
        "name": "freebsd",
        "memory": 1024,
        "vcpus": 2,
        "type": "hvm",
        "disks": [{"zvol": "zroot/xen/freebsd-disk0", "size": "20G"}],
        "cdrom": {"path": ISO},
        "vifs": [{"bridge": "bridge0", "mac": "00:16:3E:74:34:32"}],
        "vnc": {},
        "serial": "pty",
        "usbdevice": "tablet",
    }
    data.update(overrides)
    return GuestSpec(**data)


def top_level_keys(text):
    return [m.group(1) for m in re.finditer(r"^([a-z_0-9]+) = ", text, re.MULTILINE)]


def parsed(text):
    cfg = xlparse.parse_cfg(text)
    assert cfg.report == "", cfg.report  # no warnings from libxlutil either
    return cfg


def test_handbook_guest_installing_parses_back_key_by_key():
    text = render_xl_cfg(handbook_guest())
    assert text.splitlines()[0] == HEADER
    assert top_level_keys(text) == [
        "name", "type", "memory", "vcpus", "disk", "boot", "vif",
        "vnc", "vnclisten", "serial", "usb", "usbdevice",
    ]
    with parsed(text) as cfg:
        assert cfg.get_string("name") == "freebsd"
        assert cfg.get_string("type") == "hvm"
        assert not cfg.has("builder")
        assert cfg.get_long("memory") == 1024
        assert not cfg.has("maxmem")
        assert cfg.get_long("vcpus") == 2
        assert not cfg.has("maxvcpus")
        assert cfg.get_list("disk") == [
            "format=raw, vdev=hda, access=rw, target=/dev/zvol/zroot/xen/freebsd-disk0",
            f"format=raw, vdev=hdc, access=ro, devtype=cdrom, target={ISO}",
        ]
        assert cfg.get_string("boot") == "dc"
        assert cfg.get_list("vif") == ["type=vif, mac=00:16:3e:74:34:32, bridge=bridge0"]
        assert cfg.get_long("vnc") == 1
        assert cfg.get_string("vnclisten") == "127.0.0.1"
        assert not cfg.has("vncpasswd")
        assert cfg.get_string("serial") == "pty"
        assert cfg.get_long("usb") == 1
        assert cfg.get_list("usbdevice") == ["tablet"]


def test_handbook_disks_through_xlu_disk_parse():
    disk, cdrom = (xlparse.parse_disk_spec(spec) for spec in disk_specs(handbook_guest()))
    assert disk["vdev"] == "hda"
    assert disk["target"] == "/dev/zvol/zroot/xen/freebsd-disk0"
    assert disk["format"] == "raw"
    assert (disk["readwrite"], disk["is_cdrom"], disk["removable"]) == (1, 0, 0)
    assert cdrom["vdev"] == "hdc"
    assert cdrom["target"] == ISO
    assert cdrom["format"] == "raw"
    assert (cdrom["readwrite"], cdrom["is_cdrom"], cdrom["removable"]) == (0, 1, 1)


def test_our_disk_specs_mean_what_the_handbooks_positional_ones_mean():
    ours = [xlparse.parse_disk_spec(spec) for spec in disk_specs(handbook_guest())]
    handbooks = [
        xlparse.parse_disk_spec("/dev/zvol/zroot/xen/freebsd-disk0,raw,hda,rw"),
        xlparse.parse_disk_spec(f"{ISO},raw,hdc:cdrom,r"),
    ]
    assert ours == handbooks


def test_installed_guest_boots_from_disk_without_cdrom():
    guest = handbook_guest(installed=True)
    text = render_xl_cfg(guest)
    with parsed(text) as cfg:
        assert cfg.get_list("disk") == ["format=raw, vdev=hda, access=rw, target=/dev/zvol/zroot/xen/freebsd-disk0"]
        assert cfg.get_string("boot") == "c"
    assert ISO not in text
    assert boot_order(guest) == "c"


def test_no_cdrom_boots_from_disk():
    guest = handbook_guest(cdrom=None)
    assert boot_order(guest) == "c"
    assert len(disk_specs(guest)) == 1


def test_vnc_password_only_when_given():
    text = render_xl_cfg(handbook_guest(vnc={"listen": "0.0.0.0", "password": "s3cr3t"}))
    with parsed(text) as cfg:
        assert cfg.get_string("vnclisten") == "0.0.0.0"
        assert cfg.get_string("vncpasswd") == "s3cr3t"
    for guest in (handbook_guest(), handbook_guest(vnc={"listen": "0.0.0.0"})):
        assert "vncpasswd" not in render_xl_cfg(guest)


def test_every_config_starts_with_the_marker_that_libxlutil_reads_as_a_comment():
    text = render_xl_cfg(handbook_guest())
    assert text.startswith(MANAGED_MARKER + "\n") and HEADER == MANAGED_MARKER
    assert is_managed_config(text)
    with parsed(text) as cfg:
        assert cfg.get_string("name") == "freebsd"
    with parsed(MANAGED_MARKER + "\n") as cfg:
        assert not cfg.has("name")  # the marker alone defines nothing
    for earlier in EARLIER_MARKERS:
        assert is_managed_config(earlier + "\nname = 'x'\n")
    # An admin's config, or ours edited so the marker is no longer first, is not ours.
    assert not is_managed_config('name = "freebsd"\n' + MANAGED_MARKER + "\n")
    assert not is_managed_config("# " + MANAGED_MARKER + "\n")
    assert not is_managed_config("")


@pytest.mark.parametrize("password", ['ab"c', "ab'c", "a\\b", '\\"', '"', "\\", "$(id)`x`", "#x"])
def test_vnc_password_with_quotes_and_backslashes_reads_back_intact(password):
    text = render_xl_cfg(handbook_guest(vnc={"password": password}))
    with parsed(text) as cfg:
        assert cfg.get_string("vncpasswd") == password
        assert cfg.get_string("name") == "freebsd"  # nothing after the password was swallowed
        assert cfg.get_list("usbdevice") == ["tablet"]


@pytest.mark.parametrize("value", ['say "hi"', "it's", "C:\\dir\\", "\\\"", "caf\u00e9", "\u0430"])
def test_extra_strings_read_back_intact(value):
    text = render_xl_cfg(handbook_guest(extra={"cmdline": value, "device_model_args": [value, "x"]}))
    with parsed(text) as cfg:
        assert cfg.get_string("cmdline") == value
        assert cfg.get_list("device_model_args") == [value, "x"]


def test_passwords_inside_extra_values_make_the_file_private_and_are_redacted():
    guest = handbook_guest(type="pv", vnc=None, serial=None, usbdevice=None, cdrom=None,
                           extra={"vfb": ["vnc=1,vncpasswd=sekrit,vnclisten=0.0.0.0"]})
    assert config_mode(guest) == 0o600
    redacted = render_xl_cfg(guest, redact_secrets=True)
    assert "sekrit" not in redacted and "vncpasswd=********,vnclisten=0.0.0.0" in redacted


def test_secrets_redacted_and_mode():
    guest = handbook_guest(vnc={"password": "s3cr3t"})
    assert config_mode(guest) == 0o600
    assert config_mode(handbook_guest()) == 0o644
    redacted = render_xl_cfg(guest, redact_secrets=True)
    assert "s3cr3t" not in redacted
    assert 'vncpasswd = "********"' in redacted
    spice = handbook_guest(extra={"spice": True, "spicepasswd": "x"})
    assert config_mode(spice) == 0o600
    assert 'spicepasswd = "x"' not in render_xl_cfg(spice, redact_secrets=True)


def test_vnclisten_default_and_vnc_off():
    guest = handbook_guest(vnc=None)
    with parsed(render_xl_cfg(guest)) as cfg:
        assert cfg.get_long("vnc") == 0
        assert not cfg.has("vnclisten")
    # omitted entirely: an hvm guest still gets a console on the loopback address
    data = handbook_guest().model_dump()
    del data["vnc"]
    with parsed(render_xl_cfg(GuestSpec(**data))) as cfg:
        assert cfg.get_long("vnc") == 1
        assert cfg.get_string("vnclisten") == "127.0.0.1"


def test_stable_mac_when_omitted():
    guest = handbook_guest(vifs=[{"bridge": "bridge0"}, {"bridge": "bridge1", "mac": "00:16:3e:00:00:02"}])
    expected = stable_mac("freebsd", 0)
    assert vif_macs(guest) == [expected, "00:16:3e:00:00:02"]
    assert vif_specs(guest) == [
        f"type=vif, mac={expected}, bridge=bridge0",
        "type=vif, mac=00:16:3e:00:00:02, bridge=bridge1",
    ]
    with parsed(render_xl_cfg(guest)) as cfg:
        assert cfg.get_list("vif") == vif_specs(guest)
    # another guest, another address
    assert vif_macs(handbook_guest(name="freebsd2", vifs=[{"bridge": "bridge0"}]))[0] != expected


def test_every_vif_has_explicit_bridge_and_mac():
    guest = handbook_guest(vifs=[{"bridge": f"bridge{n}"} for n in range(3)])
    for spec in vif_specs(guest):
        fields = dict(part.split("=", 1) for part in spec.split(", "))
        assert set(fields) == {"type", "mac", "bridge"}
        assert re.fullmatch(r"00:16:3e:[0-7][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}", fields["mac"])


def test_maxmem_maxvcpus_and_extra_sorted():
    guest = handbook_guest(
        maxmem=2048,
        maxvcpus=4,
        extra={
            "on_crash": "restart",
            "acpi": True,
            "hpet": False,
            "rtc_timeoffset": -3600,
            "cap": 50,
            "pci": ["0000:03:00.0", "0000:04:00.0"],
            "viridian": ["defaults"],
        },
    )
    text = render_xl_cfg(guest)
    keys = top_level_keys(text)
    assert keys[keys.index("usbdevice") + 1:] == sorted(guest.extra)
    with parsed(text) as cfg:
        assert cfg.get_long("maxmem") == 2048
        assert cfg.get_long("maxvcpus") == 4
        assert cfg.get_string("on_crash") == "restart"
        assert cfg.get_long("acpi") == 1
        assert cfg.get_long("hpet") == 0
        assert cfg.get_long("rtc_timeoffset") == -3600  # quoted: xl's lexer has no negative numbers
        assert cfg.get_long("cap") == 50
        assert cfg.get_list("pci") == ["0000:03:00.0", "0000:04:00.0"]
        assert cfg.get_list("viridian") == ["defaults"]


def test_deterministic():
    extra = {"on_crash": "restart", "acpi": True, "on_reboot": "restart"}
    first = render_xl_cfg(handbook_guest(extra=extra))
    second = render_xl_cfg(handbook_guest(extra=dict(reversed(list(extra.items())))))
    assert first == second


@pytest.mark.parametrize("kind", ["pvh", "pv"])
def test_pv_and_pvh(kind):
    guest = GuestSpec(
        name="pvguest", memory=512, type=kind,
        disks=[{"file": "/vm/pv.img", "size": "8G"}],
        vifs=[{"bridge": "bridge0"}],
        extra={"kernel": "/boot/kernel/kernel", "cmdline": "vfs.root.mountfrom=ufs:/dev/ada0p2"},
    )
    text = render_xl_cfg(guest)
    keys = top_level_keys(text)
    assert "boot" not in keys and "vnc" not in keys and "usb" not in keys and "serial" not in keys
    with parsed(text) as cfg:
        assert cfg.get_string("type") == kind
        assert cfg.get_string("kernel") == "/boot/kernel/kernel"
        [spec] = cfg.get_list("disk")
    disk = xlparse.parse_disk_spec(spec)
    assert (disk["vdev"], disk["target"], disk["readwrite"], disk["is_cdrom"]) == ("xvda", "/vm/pv.img", 1, 0)


def test_file_and_device_disks():
    guest = handbook_guest(
        disks=[
            {"file": "/vm/freebsd.img", "size": "20G"},
            {"device": "/dev/ada1", "vdev": "hdd"},
            {"zvol": "zroot/xen/data:1", "size": "1T", "sparse": True},
        ],
    )
    parsed_specs = [xlparse.parse_disk_spec(spec) for spec in disk_specs(guest)]
    assert [(d["vdev"], d["target"], d["is_cdrom"]) for d in parsed_specs] == [
        ("hda", "/vm/freebsd.img", 0),
        ("hdd", "/dev/ada1", 0),
        ("hdb", "/dev/zvol/zroot/xen/data:1", 0),
        ("hdc", ISO, 1),
    ]


def test_config_path():
    assert config_path(handbook_guest()) == "/usr/local/etc/xen/freebsd.cfg"


def test_renderer_refuses_unquotable_values_even_without_the_schema():
    guest = handbook_guest()
    sneaky = guest.model_copy(update={"serial": 'pty"\nbuilder = "generic'})
    with pytest.raises(ValueError, match="cannot be written as an xl config string") as caught:
        render_xl_cfg(sneaky)
    assert "builder" not in str(caught.value)  # the value itself is not repeated (it may be a password)


# The binding itself must reject what Xen rejects, or the tests above prove nothing.


@pytest.mark.parametrize(
    "text",
    [
        'name = "freebsd',           # unterminated string
        "name = freebsd\n",          # bare word
        'disk = [ "a", \n',           # unterminated list
        "memory = -1\n",             # no negative numbers in xl's lexer
        'name = "a" "b"\n',          # two values
    ],
)
def test_binding_rejects_broken_configs(text):
    with pytest.raises(xlparse.XlParseError) as caught:
        xlparse.parse_cfg(text)
    assert caught.value.errno != 0
    assert "guest.cfg:" in caught.value.report  # libxlutil's own message, with the line


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("format=bogus, vdev=hda, target=/x", "unknown value for format"),
        ("vdev=hda, acces=rw, target=/x", "unknown parameter"),
        ("vdev=hda, access=rw, devtype=floppy, target=/x", "devtype"),
    ],
)
def test_binding_rejects_bad_disk_specs(spec, fragment):
    with pytest.raises(xlparse.XlParseError) as caught:
        xlparse.parse_disk_spec(spec)
    assert fragment in caught.value.report


def test_binding_getters_report_type_errors():
    with parsed('name = "x"\nmemory = 1024\nl = [ "a" ]\n') as cfg:
        with pytest.raises(xlparse.XlParseError, match="not a valid number"):
            cfg.get_long("name")
        with pytest.raises(xlparse.XlParseError, match="is a list but should be a single value"):
            cfg.get_string("l")
        with pytest.raises(KeyError):
            cfg.get_string("missing")
        assert cfg.get_string("memory") == "1024"


# Xen 4.7 (the Handbook's era): xl_cmdimpl.c's parse_config_data reads only
# "builder" (a prefix of "hvm" is HVM, anything else PV) and never "type".


def test_xen_47_hvm_guest_is_written_with_builder_not_type():
    text = render_xl_cfg(handbook_guest(), xen=(4, 7))
    keys = top_level_keys(text)
    assert "type" not in keys
    with parsed(text) as cfg:
        assert cfg.get_string("builder") == "hvm"


def test_xen_47_pv_guest_needs_no_key_and_pvh_is_refused_with_the_reason():
    pv = GuestSpec(name="pv", memory=512, vcpus=1, type="pv", extra={"kernel": "/boot/kernel/kernel"})
    keys = top_level_keys(render_xl_cfg(pv, xen=(4, 7)))
    assert "type" not in keys and "builder" not in keys
    pvh = GuestSpec(name="pvh", memory=512, vcpus=1, type="pvh")
    with pytest.raises(ValueError, match=r"guest pvh: type 'pvh' needs Xen 4.10 or later \(this Dom0 runs Xen 4.7"):
        render_xl_cfg(pvh, xen=(4, 7))


@pytest.mark.parametrize("xen", [None, (4, 10), (4, 11), (4, 21)])
def test_xen_410_and_later_get_type(xen):
    text = render_xl_cfg(handbook_guest(), xen=xen)
    assert "builder" not in top_level_keys(text)
    assert text == render_xl_cfg(handbook_guest())
    with parsed(text) as cfg:
        assert cfg.get_string("type") == "hvm"


def test_secret_lines_are_masked_the_same_here_and_by_the_hosts_awk():
    import shutil
    import subprocess

    from spec.xlcfg import MASK_SECRET_LINES_AWK, mask_secret_lines

    guest = handbook_guest(vnc={"password": "s3cret"}, extra={"vfb": ["vnc=1,vncpasswd=abc", "sdl=0"], "spicepasswd": "zz", "on_crash": "restart"})
    text = render_xl_cfg(guest)
    masked = mask_secret_lines(text)
    assert "s3cret" not in masked and "abc" not in masked and "zz" not in masked
    assert 'vncpasswd = ********\n' in masked and '    "sdl=0",\n' in masked and 'on_crash = "restart"' in masked
    awk = shutil.which("busybox")  # the simulated FreeBSD's awk
    assert awk, "busybox is needed (the simulator's awk)"
    done = subprocess.run([awk, "awk", MASK_SECRET_LINES_AWK], input=text, capture_output=True, text=True, check=True)
    assert done.stdout == masked
