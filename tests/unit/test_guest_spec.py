"""Guest declaration validation: every rule, with the message the user sees."""

import pytest
from pydantic import ValidationError

from spec.guest import EXTRA_KEYS, MANAGED_KEYS, CdromSpec, DiskSpec, GuestSpec, VifSpec, VncSpec, size_bytes, vdev_index
from spec.names import check_path

SHA = "a" * 64


def guest(**overrides):
    data = {"name": "freebsd", "memory": 1024}
    data.update(overrides)
    return GuestSpec(**data)


def error_of(**overrides):
    with pytest.raises(ValidationError) as caught:
        guest(**overrides)
    return caught.value


def message(**overrides):
    errors = error_of(**overrides).errors()
    assert len(errors) == 1, errors
    return errors[0]["msg"].removeprefix("Value error, ")


def location(**overrides):
    return error_of(**overrides).errors()[0]["loc"]


# The example from the task description, the project's public interface.
FULL = {
    "name": "freebsd",
    "memory": 1024,
    "maxmem": 2048,
    "vcpus": 2,
    "maxvcpus": 4,
    "type": "hvm",
    "disks": [
        {"zvol": "zroot/xen/freebsd-disk0", "size": "20G", "sparse": False, "vdev": "hda"},
        {"file": "/vm/freebsd.img", "size": "20G"},
        {"device": "/dev/ada1"},
    ],
    "cdrom": {
        "url": "https://download.freebsd.org/releases/ISO-IMAGES/14.2/FreeBSD-14.2-RELEASE-amd64-bootonly.iso",
        "sha256": SHA,
        "path": "/var/lib/xen/iso/freebsd.iso",
    },
    "vifs": [{"bridge": "bridge0", "mac": "00:16:3e:74:34:32"}],
    "vnc": {"listen": "127.0.0.1", "password": "s3cret"},
    "serial": "pty",
    "usbdevice": "tablet",
    "extra": {"on_crash": "restart"},
    "state": "running",
    "installed": False,
    "autostart": True,
    "destroy_disks": False,
    "restart_on_change": False,
}


def test_full_example_is_accepted():
    spec = GuestSpec(**FULL)
    assert [d.kind for d in spec.disks] == ["zvol", "file", "device"]
    assert [d.target for d in spec.disks] == ["/dev/zvol/zroot/xen/freebsd-disk0", "/vm/freebsd.img", "/dev/ada1"]
    assert [d.vdev for d in spec.disks] == ["hda", "hdb", "hdc"]
    assert spec.cdrom.vdev == "hdd"
    assert spec.usbdevice == ["tablet"]
    assert spec.has_secrets


def test_minimal_defaults():
    spec = guest()
    assert spec.type == "hvm"
    assert spec.vcpus == 1
    assert spec.state == "running"
    assert spec.installed is False and spec.autostart is True
    assert spec.destroy_disks is False and spec.restart_on_change is False
    assert spec.disks == [] and spec.vifs == [] and spec.cdrom is None
    assert spec.vnc == VncSpec(listen="127.0.0.1", password=None)
    assert not spec.has_secrets


# name


@pytest.mark.parametrize("name", ["freebsd", "web-1", "a", "db_2.prod", "0vm", "x" * 64])
def test_good_names(name):
    assert guest(name=name).name == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "must not be empty"),
        ("x" * 65, "is 65 characters long: use at most 64"),
        ("-vm", "must start with a letter or digit"),
        (".vm", "must start with a letter or digit"),
        ("my vm", "contains a space"),
        ("vm'1", "contains \"'\""),
        ('vm"1', "contains '\"'"),
        ("vm$(reboot)", "contains '$'"),
        ("vm`id`", "contains '`'"),
        ("vm;reboot", "contains ';'"),
        ("vm\nname", "contains a newline"),
        ("vm\n", "contains a newline"),
        ("vm/../etc", "contains '/'"),
        ("123", "all digits, which xl reads as a domain id"),
        ("Domain-0", "control domain"),
    ],
)
def test_bad_names(name, fragment):
    text = message(name=name)
    assert fragment in text
    assert text.startswith("name")


def test_name_required():
    with pytest.raises(ValidationError) as caught:
        GuestSpec(memory=1024)
    assert caught.value.errors()[0]["loc"] == ("name",)
    assert caught.value.errors()[0]["type"] == "missing"


# memory / vcpus


@pytest.mark.parametrize("value", ["1024M", "2G", "1024", 1024.0, True, None])
def test_memory_must_be_int_mib(value):
    assert message(memory=value) == f"memory must be a whole number of MiB, e.g. 1024 for 1 GiB (got {value!r})"


def test_memory_positive():
    assert message(memory=0) == "memory must be at least 1 (got 0)"


def test_maxmem_at_least_memory():
    assert guest(maxmem=1024).maxmem == 1024
    assert message(maxmem=512) == "maxmem (512) is below memory (1024): raise maxmem or lower memory"
    assert message(maxmem="2G").startswith("maxmem must be a whole number of MiB")


def test_vcpus():
    assert guest(vcpus=2, maxvcpus=4).maxvcpus == 4
    assert message(vcpus=0) == "vcpus must be at least 1 (got 0)"
    assert message(vcpus="2") == "vcpus must be a whole number, e.g. 2 (got '2')"
    assert message(vcpus=513) == "vcpus must be at most 512 (got 513)"
    assert message(vcpus=4, maxvcpus=2) == "maxvcpus (2) is below vcpus (4): raise maxvcpus or lower vcpus"


@pytest.mark.parametrize("kind", ["hvm", "pvh", "pv"])
def test_types(kind):
    assert guest(type=kind).type == kind


def test_bad_type_and_builder():
    assert message(type="generic") == "type 'generic' is not a guest type: use hvm, pvh or pv"
    text = message(extra={"builder": "hvm"})
    assert "builder is deprecated" in text and "type key" in text


def test_unknown_key_rejected():
    error = error_of(memroy=1024)
    assert error.errors()[0]["type"] == "extra_forbidden"
    assert error.errors()[0]["loc"] == ("memroy",)


def test_unknown_nested_key_rejected():
    error = error_of(disks=[{"zvol": "zroot/x/d", "size": "1G", "compression": "lz4"}])
    assert error.errors()[0]["loc"] == ("disks", 0, "compression")


# sizes


@pytest.mark.parametrize(
    ("size", "expected"),
    [("1", 1), ("512", 512), ("1K", 1024), ("20G", 20 * 1024**3), ("1T", 1024**4), ("512M", 512 * 1024**2)],
)
def test_size_bytes(size, expected):
    assert size_bytes(size) == expected


@pytest.mark.parametrize("size", ["0", "020G", "20g", "20GB", "1.5G", "-1G", "", " 20G", "20 G", "G", "20G\n"])
def test_bad_sizes(size):
    with pytest.raises(ValueError, match="is not a size: write it like 20G"):
        size_bytes(size)
    text = message(disks=[{"file": "/vm/a.img", "size": size}])
    assert text.startswith(f"size {size!r} is not a size")


def test_size_must_be_string():
    error = error_of(disks=[{"file": "/vm/a.img", "size": 20}])
    assert error.errors()[0]["loc"] == ("disks", 0, "size")


def test_zvol_size_multiple_of_16k():
    assert guest(disks=[{"zvol": "zroot/a/b", "size": "16K"}]).disks[0].size_bytes == 16384
    assert "not a multiple of 16K" in message(disks=[{"zvol": "zroot/a/b", "size": "1000K"}])
    # files take any size
    assert guest(disks=[{"file": "/vm/a.img", "size": "1000"}]).disks[0].size_bytes == 1000


# disks


def test_disk_needs_exactly_one_backing():
    assert message(disks=[{"size": "1G"}]) == (
        "a disk needs exactly one of zvol, file or device (got none of them): "
        "e.g. {'zvol': 'zroot/xen/vm-disk0', 'size': '20G'}"
    )
    assert "(got zvol and file)" in message(disks=[{"zvol": "zroot/a/b", "file": "/vm/a", "size": "1G"}])
    assert "(got file and device)" in message(disks=[{"device": "/dev/ada1", "file": "/vm/a", "size": "1G"}])


def test_zvol_and_file_need_size():
    assert message(disks=[{"zvol": "zroot/a/b"}]) == "a zvol disk needs a size, e.g. 'size': '20G'"
    assert message(disks=[{"file": "/vm/a.img"}]) == "a file disk needs a size, e.g. 'size': '20G'"


def test_device_takes_no_size():
    assert "size does not apply to a device disk" in message(disks=[{"device": "/dev/ada1", "size": "1G"}])


def test_sparse_only_for_zvols():
    assert guest(disks=[{"zvol": "zroot/a/b", "size": "1G", "sparse": True}]).disks[0].sparse
    assert "sparse applies to zvol disks only" in message(disks=[{"file": "/vm/a", "size": "1G", "sparse": True}])


@pytest.mark.parametrize("name", ["zroot/xen/freebsd-disk0", "tank/a", "z1/a.b/c_d:e-f", "zroot/" + "a" * 240])
def test_good_zvols(name):
    assert guest(disks=[{"zvol": name, "size": "1G"}]).disks[0].zvol == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("/zroot/xen/d", "starts with '/': give the dataset name without /dev/zvol"),
        ("zroot", "is a pool, not a volume"),
        ("zroot//d", "empty, '.' or '..' component"),
        ("zroot/xen/", "empty, '.' or '..' component"),
        ("zroot/../d", "empty, '.' or '..' component"),
        ("zroot/my disk", "contains a space"),
        ("zroot/d@snap", "contains '@'"),
        ("zroot/d$(id)", "contains '$'"),
        ("zroot/d;rm", "contains ';'"),
        ("zroot/d'x", "contains \"'\""),
        ("zroot/d\nx", "contains a newline"),
        ("zroot/d\n", "contains a newline"),
        ("1pool/d", "must start with a letter"),
        ("mirror/d", "reserved word"),
        ("zroot/" + "a" * 260, "longer than 255"),
    ],
)
def test_bad_zvols(name, fragment):
    text = message(disks=[{"zvol": name, "size": "1G"}])
    assert fragment in text
    assert text.startswith("zvol")


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("vm/a.img", "is not absolute"),
        ("/vm/../etc/a.img", "contains '..'"),
        ("/vm/./a.img", "not in normal form: write it as /vm/a.img"),
        ("/vm//a.img", "not in normal form: write it as /vm/a.img"),
        ("/vm/a.img/", "not in normal form: write it as /vm/a.img"),
        ("/vm/my disk.img", "contains a space"),
        ("/vm/a\tb", "contains a tab"),
        ("/vm/a'b", "contains \"'\""),
        ('/vm/a"b', "contains '\"'"),
        ("/vm/$(reboot)", "contains '$'"),
        ("/vm/`id`", "contains '`'"),
        ("/vm/a;b", "contains ';'"),
        ("/vm/a\nb", "contains a newline"),
        ("/vm/a.img\n", "contains a newline"),
        ("/vm/a,b", "contains ','"),
        ("/vm/a=b", "contains '='"),
        ("/dev/ada1", "is under /dev: declare it as device"),
    ],
)
def test_bad_file_paths(path, fragment):
    text = message(disks=[{"file": path, "size": "1G"}])
    assert fragment in text
    assert text.startswith("file")


def test_path_error_explains_why():
    assert "xl disk specs" in message(disks=[{"file": "/vm/a,b", "size": "1G"}])


def test_root_is_not_a_file():
    with pytest.raises(ValueError, match="is a directory"):
        check_path("/")


def test_device_must_be_under_dev():
    assert guest(disks=[{"device": "/dev/ada1"}]).disks[0].target == "/dev/ada1"
    assert message(disks=[{"device": "/vm/disk"}]) == (
        "device '/vm/disk' is not under /dev/: give a device node like /dev/ada1"
    )
    assert "contains a space" in message(disks=[{"device": "/dev/ada 1"}])
    assert message(disks=[{"device": "/dev/../etc/passwd"}]) == (
        "device '/dev/../etc/passwd' contains '..': write the path without it"
    )


def test_same_target_twice():
    disks = [{"zvol": "zroot/a/b", "size": "1G"}, {"device": "/dev/zvol/zroot/a/b"}]
    assert message(disks=disks) == (
        "two disks use /dev/zvol/zroot/a/b: give each disk its own zvol, file or device"
    )
    cdrom = {"path": "/vm/a.img"}
    assert "cdrom path /vm/a.img is also a disk" in message(disks=[{"file": "/vm/a.img", "size": "1G"}], cdrom=cdrom)


# vdevs


def test_default_vdevs_hvm():
    spec = guest(disks=[{"zvol": "zroot/a/b", "size": "1G"}, {"file": "/vm/c", "size": "1G"}], cdrom={"path": "/i.iso"})
    assert [d.vdev for d in spec.disks] == ["hda", "hdb"]
    assert spec.cdrom.vdev == "hdc"
    assert spec.cdrom_vdev == "hdc"
    assert guest().cdrom_vdev is None


def test_handbook_layout_disk_hda_cdrom_hdc():
    spec = guest(disks=[{"zvol": "zroot/xen/freebsd-disk0", "size": "20G"}], cdrom={"path": "/i.iso"})
    assert (spec.disks[0].vdev, spec.cdrom.vdev) == ("hda", "hdc")


@pytest.mark.parametrize("kind", ["pv", "pvh"])
def test_default_vdevs_pv(kind):
    spec = guest(type=kind, disks=[{"zvol": "zroot/a/b", "size": "1G"}, {"file": "/vm/c", "size": "1G"}])
    assert [d.vdev for d in spec.disks] == ["xvda", "xvdb"]


def test_explicit_vdevs_are_skipped():
    disks = [{"file": "/vm/a", "size": "1G"}, {"file": "/vm/b", "size": "1G", "vdev": "hda"}]
    spec = guest(disks=disks, cdrom={"path": "/i.iso", "vdev": "hdb"})
    assert [d.vdev for d in spec.disks] == ["hdc", "hda"]
    assert spec.cdrom.vdev == "hdb"


def test_cdrom_takes_next_free_after_hdc():
    disks = [{"file": f"/vm/{n}", "size": "1G"} for n in "abcd"]
    spec = guest(disks=disks, cdrom={"path": "/i.iso"})
    assert [d.vdev for d in spec.disks] == ["hda", "hdb", "hdc", "hdd"]
    assert spec.cdrom.vdev == "hde"


def test_many_disks_get_two_letter_vdevs():
    disks = [{"file": f"/vm/d{n}", "size": "1G"} for n in range(28)]
    vdevs = [d.vdev for d in guest(type="pvh", disks=disks).disks]
    assert vdevs[25:] == ["xvdz", "xvdaa", "xvdab"]
    assert vdev_index("xvdaa") == 26


@pytest.mark.parametrize("vdev", ["hda", "sdb", "xvdc", "xvdaa"])
def test_good_vdevs(vdev):
    assert guest(disks=[{"file": "/vm/a", "size": "1G", "vdev": vdev}]).disks[0].vdev == vdev


@pytest.mark.parametrize("vdev", ["vda", "hd", "hda1", "HDA", "xvd-a", "hda,w", "hda\n"])
def test_bad_vdevs(vdev):
    assert message(disks=[{"file": "/vm/a", "size": "1G", "vdev": vdev}]) == (
        f"vdev {vdev!r} is not a virtual disk name: use hda, hdb, ... sda, ... or xvda, ..."
    )


def test_vdev_unique():
    disks = [{"file": "/vm/a", "size": "1G", "vdev": "hda"}, {"file": "/vm/b", "size": "1G", "vdev": "hda"}]
    assert message(disks=disks) == "vdev hda is given twice: give each disk a different vdev"
    disks[1]["vdev"] = "xvda"
    assert message(disks=disks) == "vdev xvda and hda name the same disk (number 0): give each disk a different vdev"
    assert "vdev hdc is given twice" in message(
        disks=[{"file": "/vm/a", "size": "1G", "vdev": "hdc"}], cdrom={"path": "/i.iso", "vdev": "hdc"},
    )


# cdrom


def test_cdrom_forms():
    assert guest(cdrom={"path": "/var/lib/xen/iso/freebsd.iso"}).cdrom.url is None
    spec = guest(cdrom={"path": "/i.iso", "url": "https://example.org/a.iso", "sha256": "AB" * 32})
    assert spec.cdrom.sha256 == "ab" * 32


def test_cdrom_url_needs_sha256():
    assert message(cdrom={"path": "/i.iso", "url": "https://example.org/a.iso"}) == (
        "cdrom url needs sha256 so the download is verified: copy it from the release's CHECKSUM.SHA256 file"
    )


@pytest.mark.parametrize("digest", ["a" * 63, "g" * 64, "a" * 65, "", "a" * 64 + "\n"])
def test_cdrom_bad_sha256(digest):
    assert "is not a SHA-256 digest" in message(cdrom={"path": "/i.iso", "sha256": digest})


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "https://example.org/a b.iso",
        "https://example.org/$(reboot).iso",
        "https://example.org/a.iso;reboot",
        "https://example.org/a'.iso",
        "https://example.org/`id`.iso",
        "https://example.org/a.iso\n",
        "example.org/a.iso",
    ],
)
def test_cdrom_bad_urls(url):
    assert "is not a plain http(s)/ftp URL" in message(cdrom={"path": "/i.iso", "url": url, "sha256": SHA})


def test_cdrom_bad_path():
    assert message(cdrom={"path": "/iso/my image.iso"}).startswith("cdrom path '/iso/my image.iso' contains a space")
    assert location(cdrom={"path": "relative.iso"}) == ("cdrom", "path")


def test_installed_with_cdrom_is_fine():
    spec = guest(cdrom={"path": "/i.iso"}, installed=True)
    assert spec.cdrom is not None and not spec.cdrom_attached
    assert guest(cdrom={"path": "/i.iso"}).cdrom_attached


# vifs


def test_vifs():
    spec = guest(vifs=[{"bridge": "bridge0"}, {"bridge": "bridge1", "mac": "00:16:3E:74:34:32"}])
    assert spec.vifs == [VifSpec(bridge="bridge0"), VifSpec(bridge="bridge1", mac="00:16:3e:74:34:32")]


def test_vif_needs_bridge():
    error = error_of(vifs=[{"mac": "00:16:3e:00:00:01"}])
    assert error.errors()[0]["loc"] == ("vifs", 0, "bridge")
    assert error.errors()[0]["type"] == "missing"


@pytest.mark.parametrize(
    "bridge", ["bridge", "Bridge0", "0bridge", "bridge 0", "br-0", "bridge0;ls", "bridge0,x", "bridge0\n"],
)
def test_bad_bridges(bridge):
    assert message(vifs=[{"bridge": bridge}]) == (
        f"bridge {bridge!r} is not a FreeBSD interface name: use e.g. bridge0"
    )


@pytest.mark.parametrize(
    ("mac", "fragment"),
    [
        ("00:16:3e:74:34", "is not a MAC address"),
        ("00-16-3e-74-34-32", "is not a MAC address"),
        ("00:16:3e:74:34:3g", "is not a MAC address"),
        ("0:16:3e:74:34:32", "is not a MAC address"),
        ("00:16:3e:74:34:32\n", "is not a MAC address"),
        ("01:16:3e:74:34:32", "is a multicast address: the first octet must be even"),
        ("ff:ff:ff:ff:ff:ff", "is a multicast address"),
        ("00:00:00:00:00:00", "omit mac to get a stable generated one"),
    ],
)
def test_bad_macs(mac, fragment):
    text = message(vifs=[{"bridge": "bridge0", "mac": mac}])
    assert fragment in text and text.startswith("mac")


def test_duplicate_macs():
    vifs = [{"bridge": "bridge0", "mac": "00:16:3e:00:00:01"}, {"bridge": "bridge1", "mac": "00:16:3E:00:00:01"}]
    assert message(vifs=vifs) == "mac 00:16:3e:00:00:01 is used by two vifs: give each its own or omit mac"


# vnc


def test_vnc_defaults():
    assert guest(vnc={}).vnc == VncSpec(listen="127.0.0.1")
    assert guest(vnc={"listen": "0.0.0.0"}).vnc.listen == "0.0.0.0"
    assert guest(vnc=None).vnc is None
    assert guest(type="pvh").vnc is None
    assert guest(type="pv", vnc={}).vnc == VncSpec()


@pytest.mark.parametrize("listen", ["localhost", "127.0.0.1:5900", "300.1.1.1", "127.0.0.1; id"])
def test_vnc_bad_listen(listen):
    assert message(vnc={"listen": listen}) == (
        f"vnc listen {listen!r} is not an IPv4 address: use e.g. 127.0.0.1 or 0.0.0.0"
    )
    assert "IPv6" in message(vnc={"listen": "::1"})


# Quotes and backslashes are carried: the renderer escapes them for libxlutil
# (tests/unit/test_xlcfg.py reads them back with it).
@pytest.mark.parametrize("password", ["a", "12345678", "p@ss w0r", "$(id)`x`", "ab'c", 'ab"c', "ab\\c", '\\"'])
def test_vnc_good_passwords(password):
    assert guest(vnc={"password": password}).vnc.password == password


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("123456789", "vnc password is 9 characters long: VNC authentication uses only the first 8, so use at most 8"),
        ("", "vnc password is empty, which disables authentication: omit password instead, or set one"),
        ("ab\nc", "vnc password contains a non-printable or non-ASCII character: use printable ASCII only"),
        ("pässwd", "vnc password contains a non-printable or non-ASCII character: use printable ASCII only"),
    ],
)
def test_vnc_bad_passwords(password, expected):
    assert message(vnc={"password": password}) == expected


def test_vnc_password_never_in_error_text():
    error = error_of(vnc={"password": "toolong99"})
    assert "toolong99" not in str(error)
    error = error_of(vnc={"password": "ok"}, destroy_disks=True)
    assert "'ok'" not in str(error)


# serial, usbdevice


def test_serial_and_usbdevice():
    spec = guest(serial="pty", usbdevice="tablet")
    assert (spec.serial, spec.usbdevice) == ("pty", ["tablet"])
    assert guest(usbdevice=["tablet", "host:8.2"]).usbdevice == ["tablet", "host:8.2"]
    assert message(serial="pty; reboot") == "serial 'pty; reboot' is not a qemu serial device: use e.g. pty"
    assert message(serial="pty\n") == "serial 'pty\\n' is not a qemu serial device: use e.g. pty"
    assert message(serial='pty"') == "serial 'pty\"' is not a qemu serial device: use e.g. pty"
    assert message(usbdevice="tab let") == "usbdevice 'tab let' is not a qemu USB device: use e.g. tablet"
    assert message(usbdevice=["tablet", "tablet"]) == "usbdevice lists a device twice: list each once"


@pytest.mark.parametrize("key", ["serial", "usbdevice"])
def test_serial_usbdevice_hvm_only(key):
    assert message(type="pvh", **{key: "pty" if key == "serial" else "tablet"}) == (
        f"{key} applies to hvm guests only (type is pvh): remove {key}"
    )


# extra


def test_extra_allowed_values():
    extra = {
        "on_crash": "restart",
        "on_poweroff": "destroy",
        "acpi": True,
        "cap": 50,
        "rtc_timeoffset": -3600,
        "pci": ["0000:03:00.0"],
        "viridian": ["defaults"],
        "cpus": "0-3",
    }
    assert guest(extra=extra).extra == extra


@pytest.mark.parametrize("key", ["on_poweroff", "on_reboot", "on_crash", "on_watchdog", "on_soft_reset", "acpi",
                                 "apic", "pae", "hap", "nestedhvm", "viridian", "localtime", "rtc_timeoffset",
                                 "cpus", "cpu_weight", "cap", "shadow_memory", "videoram", "vga", "nographic",
                                 "keymap", "kernel", "ramdisk", "cmdline", "extra", "bootloader",
                                 "device_model_version", "tsc_mode", "pci", "usbctrl", "usbdev", "soundhw", "uuid"])
def test_extra_allow_list_has_common_xl_keys(key):
    assert key in EXTRA_KEYS


@pytest.mark.parametrize("key", sorted(MANAGED_KEYS))
def test_extra_managed_keys_refused(key):
    text = message(extra={key: "x"})
    assert text.startswith(f"extra key {key} is managed by this project: ")
    assert text.endswith(MANAGED_KEYS[key])


def test_managed_messages_point_at_the_guest_key():
    assert message(extra={"memory": 2048}) == "extra key memory is managed by this project: set the guest's memory key"
    assert "declare disks in the guest's disks list" in message(extra={"disk": ["x"]})
    assert "boot order follows installed" in message(extra={"boot": "d"})
    assert "use extra vga = 'stdvga'" in message(extra={"stdvga": 1})


def test_extra_unknown_keys():
    assert message(extra={"on_crsh": "restart"}) == "extra key 'on_crsh' is not an xl.cfg(5) option: did you mean on_crash?"
    assert message(extra={"cpu_cap": 50}) == "extra key 'cpu_cap' is not an xl.cfg(5) option: did you mean cap?"
    assert message(extra={"zzzzzz": 1}) == "extra key 'zzzzzz' is not an xl.cfg(5) option: see xl.cfg(5) for the keys"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("re\nstart", "contains a newline"),
        ("re\tstart", "contains a tab"),
        ("re\rstart", "contains a carriage return"),
        ("re\0start", "contains '\\x00'"),
        (["ok", "b\nad"], "contains a newline"),
    ],
)
def test_extra_bad_strings(value, fragment):
    text = message(extra={"on_crash": value})
    assert text.startswith("extra on_crash contains")
    assert fragment in text
    assert "remove it" in text


@pytest.mark.parametrize("value", [1.5, {"a": 1}, None, [1, 2], [["nested"]]])
def test_extra_bad_types(value):
    text = message(extra={"cpus": value})
    assert text.startswith("extra cpus ")


def test_extra_usbversion_conflicts_with_usbdevice():
    assert guest(extra={"usbversion": 3}).extra["usbversion"] == 3
    assert message(usbdevice="tablet", extra={"usbversion": 3}) == (
        "extra usbversion cannot be combined with usbdevice (xl.cfg(5)): remove one of them"
    )


# state, destroy_disks


@pytest.mark.parametrize("state", ["running", "stopped", "absent"])
def test_states(state):
    assert guest(state=state).state == state


def test_bad_state():
    error = error_of(state="started")
    assert error.errors()[0]["loc"] == ("state",)


def test_absent_allowed_with_anything():
    spec = GuestSpec(**{**FULL, "state": "absent", "destroy_disks": True})
    assert spec.destroy_disks


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_destroy_disks_only_when_absent(state):
    assert message(state=state, destroy_disks=True) == (
        f"destroy_disks applies only with state 'absent' (state is {state!r}): "
        "remove destroy_disks, or set state 'absent' to delete the guest and its disks"
    )


@pytest.mark.parametrize("key", ["installed", "autostart", "destroy_disks", "restart_on_change"])
def test_flags_are_strict_booleans(key):
    error = error_of(**{key: "yes"})
    assert error.errors()[0]["loc"] == (key,)


def test_models_are_frozen():
    spec = guest()
    with pytest.raises(ValidationError):
        spec.memory = 2048


def test_component_models_usable_alone():
    assert DiskSpec(zvol="zroot/a/b", size="1G").kind == "zvol"
    assert CdromSpec(path="/i.iso").vdev is None
    assert VifSpec(bridge="bridge0").mac is None


# Ownership of paths: the system's trees, devices, and one path per guest in the whole fleet

from spec.fleet import validate_guests  # noqa: E402
from spec.inventory import check_fleet  # noqa: E402
from spec.schema import InventoryError  # noqa: E402


@pytest.mark.parametrize(
    "path",
    ["/etc/rc.conf", "/boot/loader.conf", "/bin/sh", "/sbin/init", "/lib/libc.so.7", "/libexec/ld-elf.so.1",
     "/usr/bin/su", "/usr/sbin/sshd", "/usr/lib/libz.so", "/usr/libexec/getty", "/usr/local/etc/xen/web.cfg",
     "/usr/local/sbin/xl", "/usr/local/bin/bash", "/var/db/pkg/local.sqlite", "/root/.ssh/authorized_keys",
     "/var/log/messages", "/usr/disk.img", "/var/disk.img", "/etc"],
)
def test_disk_files_and_media_are_refused_in_the_systems_trees(path):
    assert "which belongs to the system" in message(disks=[{"file": path, "size": "1G"}])
    assert "which belongs to the system" in message(cdrom={"path": path})


@pytest.mark.parametrize("path", ["/vm/../etc/rc.conf", "/vm/./a.img", "//etc/rc.conf", "/vm//a.img", "/vm/a.img/"])
def test_paths_are_refused_before_dot_dot_and_slashes_are_resolved(path):
    text = message(disks=[{"file": path, "size": "1G"}])
    assert "contains '..'" in text or "is not in normal form" in text


@pytest.mark.parametrize("path", ["/vm/web.img", "/var/lib/xen/iso/x.iso", "/usr/home/vm/a.img", "/i.iso",
                                  "/var/tmp/a.img", "/usr/local/vm/a.img"])
def test_guest_files_elsewhere_are_fine(path):
    assert guest(cdrom={"path": path}).cdrom.path == path


@pytest.mark.parametrize("device", ["/dev/mem", "/dev/kmem", "/dev/null", "/dev/zero", "/dev/console", "/dev/ttyu0",
                                    "/dev/pts/0", "/dev/fd/0", "/dev/bpf0", "/dev/xen/privcmd"])
def test_devices_must_be_disks(device):
    assert "is not a disk" in message(disks=[{"device": device}])


@pytest.mark.parametrize("device", ["/dev/ada1", "/dev/ada1p2", "/dev/da0s1a", "/dev/nvd0", "/dev/nda1p3",
                                    "/dev/vtbd1", "/dev/gpt/vm-web", "/dev/zvol/zroot/xen/web", "/dev/mirror/gm0"])
def test_disk_devices(device):
    assert guest(disks=[{"device": device}]).disks[0].device == device


@pytest.mark.parametrize(("key", "value"), [("serial", "-monitor"), ("usbdevice", "-tablet")])
def test_no_qemu_word_starts_with_a_dash(key, value):
    assert "is not a qemu" in message(**{key: value})


def test_unknown_guest_keys_get_did_you_mean():
    with pytest.raises(InventoryError) as caught:
        validate_guests("xen1", {"xen_guests": [{"name": "web", "memroy": 512, "disks": [{"zvl": "a/b"}]}]})
    assert "xen1: xen_guests[0].memroy is not a known key: did you mean memory?" in caught.value.problems
    assert "xen1: xen_guests[0].disks[0].zvl is not a known key: did you mean zvol?" in caught.value.problems


def fleet_of(**guests_by_host):
    return check_fleet(
        (name, {"xen_bridge_members": ["em0"], "xen_guests": guests}) for name, guests in guests_by_host.items()
    )


def vm(name, **changes):
    data = {"name": name, "memory": 512, "disks": [{"file": f"/vm/{name}.img", "size": "1G"}]}
    data.update(changes)
    return data


def test_a_path_belongs_to_one_guest_on_one_dom0():
    check = fleet_of(xen1=[vm("a"), vm("b", disks=[{"file": "/vm/a.img", "size": "1G"}])])
    [problem] = check.problems["xen1"]
    assert problem.startswith("xen1: guests a on xen1 (xen_guests[0].disks[0].file) and b on xen1 "
                              "(xen_guests[1].disks[0].file) both use /vm/a.img: a path belongs to one guest")


def test_a_path_belongs_to_one_guest_across_dom0s_and_both_hosts_are_told():
    check = fleet_of(xen1=[vm("a")], xen2=[vm("b", disks=[{"file": "/vm/a.img", "size": "1G"}])], xen3=[vm("c")])
    assert set(check.problems) == {"xen1", "xen2"} and set(check.specs) == {"xen3"}
    assert all("both use /vm/a.img" in p for p in check.problems["xen1"] + check.problems["xen2"])


def test_a_cdrom_cannot_be_another_guests_disk_or_its_own():
    check = fleet_of(xen1=[vm("a", cdrom={"path": "/vm/b.img"}), vm("b")])
    assert "both use /vm/b.img" in check.problems["xen1"][0]
    assert "cdrom path /vm/a.img is also a disk" in message(
        disks=[{"file": "/vm/a.img", "size": "1G"}], cdrom={"path": "/vm/a.img"},
    )


def test_a_zvol_and_a_device_naming_it_and_a_disk_and_its_partition_overlap():
    check = fleet_of(xen1=[vm("a", disks=[{"zvol": "zroot/xen/a", "size": "1G"}])],
                     xen2=[vm("b", disks=[{"device": "/dev/zvol/zroot/xen/a"}])],
                     xen3=[vm("c", disks=[{"device": "/dev/ada1"}]), vm("d", disks=[{"device": "/dev/ada1p2"}])])
    assert "both use /dev/zvol/zroot/xen/a" in check.problems["xen1"][0]
    assert "/dev/ada1 and /dev/ada1p2 (a disk and its partition)" in check.problems["xen3"][0]
    assert "xen3" not in fleet_of(xen3=[vm("c", disks=[{"device": "/dev/ada1"}]),
                                        vm("d", disks=[{"device": "/dev/ada10"}])]).problems
    nested = fleet_of(xen1=[vm("a", disks=[{"zvol": "zroot/xen", "size": "1G"}]),
                            vm("b", disks=[{"zvol": "zroot/xen/b", "size": "1G"}])])
    assert "/dev/zvol/zroot/xen and /dev/zvol/zroot/xen/b" in nested.problems["xen1"][0]
    assert fleet_of(xen1=[vm("a", disks=[{"zvol": "zroot/xen/a", "size": "1G"}]),
                          vm("b", disks=[{"zvol": "zroot/xen/ab", "size": "1G"}])]).problems == {}


def test_one_iso_may_be_shared_read_only_by_guests_that_declare_it_alike():
    iso = {"path": "/iso/freebsd.iso", "url": "https://download.freebsd.org/x.iso", "sha256": "a" * 64}
    assert fleet_of(xen1=[vm("a", cdrom=iso), vm("b", cdrom=iso)]).problems == {}
    other = {**iso, "sha256": "b" * 64}
    check = fleet_of(xen1=[vm("a", cdrom=iso), vm("b", cdrom=other)])
    assert "give both the same url and sha256" in check.problems["xen1"][0]


def test_destroy_disks_may_not_destroy_a_disk_another_guest_uses():
    check = fleet_of(xen1=[vm("web", state="absent", destroy_disks=True)], xen2=[vm("web")])
    assert "is absent with destroy_disks, and its disk /vm/web.img is also used by web on xen2" in (
        check.problems["xen1"][0]
    )
    # Without destroy_disks the absent guest's disk is kept: moving a guest between Dom0s stays possible.
    assert fleet_of(xen1=[vm("web", state="absent")], xen2=[vm("web")]).problems == {}


def test_the_valid_guests_of_a_host_with_bad_data_still_count():
    check = fleet_of(xen1=[vm("web"), {"name": "broken"}], xen2=[vm("web")])
    assert "xen2" in check.problems and "declared on both xen1 and xen2" in check.problems["xen2"][0]
