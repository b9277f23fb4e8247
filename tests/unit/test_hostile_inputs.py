"""
The adversarial corpus: hostile values for every host-data key.

The key list is generated from the pydantic models (``model_fields`` of the
Dom0, guests-host, guest, disk, cdrom, vif and vnc models, and every ``extra``
key of xl.cfg(5)), and each key must have a valid example in ``VALID`` below:
a key added to a model without one fails ``test_every_key_has_a_valid_example``,
so no key can be forgotten.

For each key, hostile variants of its valid example (quotes, ``$()``,
backquotes, ``; | & < >``, newlines, NUL, a leading ``-``, spaces, very long
strings, unicode lookalikes, ``..``, wrong types) are fed to validation. Each
outcome must be one of:

* refused: ``InventoryError`` (never another exception) with a problem that
  names the key, and, for a secret key, no problem that repeats the value;
* carried intact, shown by reading the rendered result back with the programs
  that will read it: the rc.conf/loader.conf lines through a real ``sh``
  (``. ./file; printf %s "$key"``, and rc's unquoted word splitting through
  ``eval``), the xl config through libxlutil (tests/xlparse.py), and every
  command word through ``sh -n`` and a ``shlex`` round trip.
"""

from __future__ import annotations

import copy
import functools
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from operations.commands import shell_words
from operations.dom0 import bridge_rc_values, loader_values
from spec.fleet import GuestsHostSpec
from spec.guest import EXTRA_KEYS, CdromSpec, DiskSpec, GuestSpec, VifSpec, VncSpec
from spec.inventory import validate_host
from spec.rcvalue import check_rc_value
from spec.schema import Dom0Spec, InventoryError
from spec.transport import migrate_rune, transport_probe_argv
from spec.xlcfg import config_path, render_xl_cfg
from tests import xlparse

HOST = "xen1"
SECRET = "s3cret"
ISO_SHA = "a" * 64

GUEST = {
    "name": "web",
    "memory": 1024,
    "maxmem": 2048,
    "vcpus": 2,
    "maxvcpus": 4,
    "type": "hvm",
    "disks": [{"file": "/vm/web.img", "size": "1G"}],
    "cdrom": {"path": "/var/lib/xen/iso/web.iso", "url": "https://download.example.org/web.iso", "sha256": ISO_SHA},
    "vifs": [{"bridge": "bridge0", "mac": "00:16:3e:00:00:01"}],
    "vnc": {"listen": "127.0.0.1", "password": SECRET},
    "serial": "pty",
    "usbdevice": ["tablet"],
    "extra": {},
    "state": "running",
    "installed": False,
    "autostart": True,
    "destroy_disks": False,
    "restart_on_change": False,
}
BASE = {"xen_bridge_members": ["em0"], "xen_guests": [GUEST]}

# One valid example for every key (the path from the host data's top). Disk keys
# that need another kind of disk say which disk to put there (DISK_FOR).
VALID: dict[tuple, Any] = {
    ("xen_version",): "4.19",
    ("xen_dom0_mem",): "8192M",
    ("xen_dom0_max_vcpus",): 4,
    ("xen_console",): "com1,vga",
    ("xen_serial",): "com1=115200,8n1",
    ("xen_loglvl",): "all",
    ("xen_guest_loglvl",): "all",
    ("xen_cmdline_extra",): "ucode=scan",
    ("xen_bridge",): "bridge0",
    ("xen_bridge_members",): ["em0"],
    ("xen_bridge_style",): "cloned",
    ("xen_bridge_ip",): "inet 192.0.2.10/24",
    ("xen_reboot",): True,
    ("xen_reboot_stops_guests",): False,
    ("xen_restart_on_change",): False,
    ("xen_autostart_delay",): 5,
    ("xen_shutdown_timeout",): 120,
    ("xen_snapshot_keep",): 3,
    ("xen_migrate_address",): "xen1.example.org",
    ("xen_migrate_ssh",): "ssh -p 2222",
    ("xen_destroy_left_volumes",): ["zroot/xen/old-disk0"],
    ("xen_guests",): [GUEST],
    ("xen_guests", 0, "name"): "web",
    ("xen_guests", 0, "memory"): 1024,
    ("xen_guests", 0, "maxmem"): 2048,
    ("xen_guests", 0, "vcpus"): 2,
    ("xen_guests", 0, "maxvcpus"): 4,
    ("xen_guests", 0, "type"): "hvm",
    ("xen_guests", 0, "disks"): GUEST["disks"],
    ("xen_guests", 0, "cdrom"): GUEST["cdrom"],
    ("xen_guests", 0, "vifs"): GUEST["vifs"],
    ("xen_guests", 0, "vnc"): GUEST["vnc"],
    ("xen_guests", 0, "serial"): "pty",
    ("xen_guests", 0, "usbdevice"): ["tablet"],
    ("xen_guests", 0, "extra"): {"on_crash": "restart"},
    ("xen_guests", 0, "state"): "running",
    ("xen_guests", 0, "installed"): False,
    ("xen_guests", 0, "autostart"): True,
    ("xen_guests", 0, "destroy_disks"): False,
    ("xen_guests", 0, "restart_on_change"): False,
    ("xen_guests", 0, "move_disks"): True,
    ("xen_guests", 0, "safety_snapshots"): True,
    ("xen_guests", 0, "disks", 0, "zvol"): "zroot/xen/web-disk0",
    ("xen_guests", 0, "disks", 0, "file"): "/vm/web.img",
    ("xen_guests", 0, "disks", 0, "device"): "/dev/ada1",
    ("xen_guests", 0, "disks", 0, "size"): "1G",
    ("xen_guests", 0, "disks", 0, "sparse"): True,
    ("xen_guests", 0, "disks", 0, "vdev"): "hda",
    ("xen_guests", 0, "cdrom", "path"): "/var/lib/xen/iso/web.iso",
    ("xen_guests", 0, "cdrom", "url"): "https://download.example.org/web.iso",
    ("xen_guests", 0, "cdrom", "sha256"): ISO_SHA,
    ("xen_guests", 0, "cdrom", "vdev"): "hdc",
    ("xen_guests", 0, "vifs", 0, "bridge"): "bridge0",
    ("xen_guests", 0, "vifs", 0, "mac"): "00:16:3e:00:00:01",
    ("xen_guests", 0, "vnc", "listen"): "127.0.0.1",
    ("xen_guests", 0, "vnc", "password"): SECRET,
}
DISK_FOR = {
    "zvol": {"zvol": "zroot/xen/web-disk0", "size": "1G"},
    "device": {"device": "/dev/ada1"},
    "sparse": {"zvol": "zroot/xen/web-disk0", "size": "1G"},
}
SECRET_KEYS = {("xen_guests", 0, "vnc", "password")}
EXTRA_EXAMPLE = "x"

MODELS_AT = {
    (): (Dom0Spec, GuestsHostSpec),
    ("xen_guests", 0): (GuestSpec,),
    ("xen_guests", 0, "disks", 0): (DiskSpec,),
    ("xen_guests", 0, "cdrom"): (CdromSpec,),
    ("xen_guests", 0, "vifs", 0): (VifSpec,),
    ("xen_guests", 0, "vnc"): (VncSpec,),
}


def model_keys() -> list[tuple]:
    """Every key of every host-data model, as a path from the host data's top."""

    keys = []
    for prefix, models in MODELS_AT.items():
        for model in models:
            assert issubclass(model, BaseModel)
            keys += [(*prefix, name) for name in model.model_fields]
    return keys


def extra_keys() -> list[tuple]:
    return [("xen_guests", 0, "extra", key) for key in sorted(EXTRA_KEYS)]


def test_every_key_has_a_valid_example():
    assert set(model_keys()) == set(VALID), "add a valid example to VALID for each new host-data key"


def test_every_valid_example_is_accepted_and_rendered():
    for key in model_keys():
        if key in VALID:
            outcome(key, VALID[key]).assert_intact()


# Hostile variants of a valid example.

LOOKALIKES = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "0": "\uff10", "1": "\u0661", "i": "\u0456", "s": "\u0455"}


def lookalike(text: str) -> str:
    return "".join(LOOKALIKES.get(char, char) for char in text)


def hostile_strings(valid: str) -> dict[str, str]:
    return {
        "double quote": f'{valid}"',
        "single quote": f"'{valid}",
        "command substitution": f"{valid}$(reboot)",
        "backquote": f"{valid}`reboot`",
        "variable": f"{valid}${{PATH}}",
        "semicolon": f"{valid};reboot",
        "pipe": f"{valid}|sh",
        "ampersand": f"{valid}&",
        "redirect out": f"{valid}>/etc/rc.conf",
        "redirect in": f"{valid}</etc/master.passwd",
        "newline": f"{valid}\n",
        "newline inside": f"{valid}\nreboot",
        "carriage return": f"{valid}\r",
        "NUL": f"{valid}\0",
        "tab": f"{valid}\tx",
        "leading dash": f"-{valid}",
        "option": "-rf",
        "space": f"{valid} x",
        "leading space": f" {valid}",
        "empty": "",
        "backslash": f"{valid}\\",
        "hash": f"{valid}#x",
        "glob": f"{valid}*",
        "tilde": f"~{valid}",
        "dot dot": f"{valid}/../../etc/rc.conf",
        "absolute dot dot": "/vm/../etc/rc.conf",
        "double slash": "//etc/rc.conf",
        "very long": valid + "x" * 5000,
        "lookalike": lookalike(valid),
        "fullwidth": valid.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}),
    }


WRONG_TYPES = {"int": 1, "float": 1.5, "true": True, "none": None, "list": ["x"], "dict": {"x": "y"}, "string 1": "1",
               "string yes": "yes"}


def hostile_values(valid: Any) -> dict[str, Any]:
    values: dict[str, Any] = {f"type {name}": value for name, value in WRONG_TYPES.items() if value != valid}
    if isinstance(valid, str):
        values.update(hostile_strings(valid))
    elif isinstance(valid, list) and valid and isinstance(valid[0], str):
        values.update({f"item {name}": [value] for name, value in hostile_strings(valid[0]).items()})
        values["duplicate items"] = [valid[0], valid[0]]
    elif isinstance(valid, int) and not isinstance(valid, bool):
        values.update({"zero": 0, "negative": -1, "huge": 10**30, "string number": str(valid)})
    return values


def cases():
    for key in model_keys():
        if key not in VALID:
            continue  # test_every_key_has_a_valid_example names it
        for name, value in hostile_values(VALID[key]).items():
            yield pytest.param(key, value, id=f"{'.'.join(map(str, key))}-{name}")


def extra_cases():
    short = ("double quote", "single quote", "command substitution", "backquote", "newline", "NUL", "backslash",
             "leading dash", "lookalike", "very long", "tab")
    for key in extra_keys():
        variants = hostile_strings(EXTRA_EXAMPLE)
        for name in short:
            yield pytest.param(key, variants[name], id=f"extra.{key[-1]}-{name}")
        yield pytest.param(key, [variants["double quote"], variants["newline"]], id=f"extra.{key[-1]}-list")
        yield pytest.param(key, 1.5, id=f"extra.{key[-1]}-float")


# Validation and what an accepted value must survive.


def with_value(key: tuple, value: Any) -> dict:
    data = copy.deepcopy(BASE)
    if key[:3] == ("xen_guests", 0, "disks") and len(key) == 5 and key[4] in DISK_FOR:
        data["xen_guests"][0]["disks"] = [copy.deepcopy(DISK_FOR[key[4]])]
    if key[:3] == ("xen_guests", 0, "cdrom") and len(key) == 4 and key[3] == "url" and value is None:
        data["xen_guests"][0]["cdrom"].pop("sha256")
    target: Any = data
    for part in key[:-1]:
        target = target[part]
    target[key[-1]] = value
    return data


def key_text(key: tuple) -> str:
    text = ""
    for part in key:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class Outcome:
    def __init__(self, key: tuple, value: Any):
        self.key = key
        self.value = value
        self.problems: list[str] | None = None
        self.spec = None
        try:
            self.spec = validate_host(HOST, with_value(key, value))
        except InventoryError as error:
            self.problems = error.problems

    def assert_refused_naming_the_key(self) -> None:
        assert self.problems, f"{self.key} accepted {self.value!r}"
        parent, last = key_text(self.key[:-1]), str(self.key[-1])
        named = [p for p in self.problems
                 if key_text(self.key) in p or (parent and f"{HOST}: {parent}" in p and last in p)
                 or (not parent and f"{HOST}: {last}" in p)]
        assert named, (self.key, self.problems)
        if self.key in SECRET_KEYS or "passw" in last:
            # (values of 3 characters or fewer also occur in the key's own path, e.g. the 1 of None)
            for shown in {str(self.value), SECRET}:
                if len(shown) > 3:
                    assert not any(shown in p for p in self.problems), self.problems

    def assert_intact(self) -> None:
        assert self.problems is None, self.problems
        assert self.spec is not None
        check_dom0_rc_files(self.spec.dom0)
        check_transport(self.spec.guests)
        for guest in self.spec.guests.xen_guests:
            check_guest(guest)
        assert_model_holds(self.spec, self.key, self.value)


def outcome(key: tuple, value: Any) -> Outcome:
    return Outcome(key, value)


def assert_model_holds(spec, key: tuple, value: Any) -> None:
    """The validated model carries the value as given (no silent conversion)."""

    if key[0] != "xen_guests":
        model = spec.dom0 if key[0] in Dom0Spec.model_fields else spec.guests
        assert getattr(model, key[0]) == value
        return
    if len(key) < 3:
        return
    guest = spec.guests.xen_guests[0]
    target: Any = guest
    for part in key[2:]:
        target = target[part] if isinstance(part, int) or isinstance(target, dict) else getattr(target, part)
    if isinstance(target, BaseModel) or (isinstance(target, list) and target and isinstance(target[0], BaseModel)):
        return
    if value is None:
        return  # an optional key left out: validation fills in its default (vdev, mac)
    if key[-1] == "sha256":
        value = value.lower()
    if key[-1] == "mac":
        value = value.lower()
    if key[-1] == "usbdevice" and isinstance(value, str):
        value = [value]
    assert target == value


# Reading back: rc files through sh, the xl config through libxlutil, commands through sh -n and shlex.


@functools.lru_cache(maxsize=None)
def sh_reads(assignments: tuple[tuple[str, str], ...]) -> dict[str, tuple[str, list[str]]]:
    """
    What sh makes of ``key="value"`` lines in a file it sources: each value,
    and rc's unquoted word split of it through ``eval`` (as rc.subr and
    network.subr use ifconfig_IF and the like). One sh for all keys.
    """

    lines = "".join(f'{key}="{value}"\n' for key, value in assignments)
    script = ". ./rc.conf\n" + "".join(
        f'printf "%s\\2" "${key}"; eval "set -- \\${key}"; for w in "$@"; do printf "%s\\1" "$w"; done; printf "\\3"\n'
        for key, _ in assignments
    )
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "rc.conf").write_text(lines)
        done = subprocess.run(["sh", "-c", script], cwd=tmp, capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 0, done.stderr
    read = {}
    for (key, _), record in zip(assignments, done.stdout.split("\3")):
        value, words = record.split("\2", 1)
        read[key] = (value, [word for word in words.split("\1") if word])
    return read


def check_dom0_rc_files(spec: Dom0Spec) -> None:
    values = dict(loader_values(spec))
    values.update(bridge_rc_values(spec, {})[0])
    for key, value in values.items():
        check_rc_value(key, value)
    read = sh_reads(tuple(values.items()))
    for key, value in values.items():
        assert read[key] == (value, value.split()), (key, value, read[key])


@functools.lru_cache(maxsize=None)
def sh_parses(script: str) -> bool:
    return subprocess.run(["sh", "-n", "-c", script], check=False).returncode == 0


def check_transport(spec: GuestsHostSpec) -> None:
    address = spec.migration_address(HOST)
    words = [*spec.xen_migrate_ssh.split(" "), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", address]
    rune = migrate_rune(spec.xen_migrate_ssh, address)
    probe = transport_probe_argv(spec.xen_migrate_ssh, address)
    assert sh_parses(rune + "\n" + probe[2])
    assert shlex.split(rune) == ["exec", *words, "xl", "migrate-receive"]
    assert probe[:2] == ["sh", "-c"] and shlex.split(probe[2]) == ["exec", *words, "true"]


def check_commands(commands: list[tuple[object, ...]]) -> None:
    """Each command as the operations build it (operations/commands.py): sh parses it, shlex gives back its words."""

    lines = [shell_words(*words) for words in commands]
    assert sh_parses("\n".join(lines)), lines
    for line, words in zip(lines, commands):
        assert shlex.split(line) == [str(word) for word in words]


def check_guest(guest: GuestSpec) -> None:
    """The rendered config read back by libxlutil holds every value as declared; every command word survives."""

    xlparse.require_libxlutil()
    text = render_xl_cfg(guest)
    with xlparse.parse_cfg(text) as cfg:
        assert cfg.get_string("name") == guest.name
        assert cfg.get_string("type") == guest.type
        assert cfg.get_long("memory") == guest.memory
        assert cfg.get_long("vcpus") == guest.vcpus
        disks = [xlparse.parse_disk_spec(spec) for spec in cfg.get_list("disk")]
        assert [d["target"] for d in disks[: len(guest.disks)]] == [d.target for d in guest.disks]
        assert [d["vdev"] for d in disks[: len(guest.disks)]] == [d.vdev for d in guest.disks]
        if guest.cdrom_attached:
            assert disks[-1]["target"] == guest.cdrom.path and disks[-1]["is_cdrom"]
        vifs = cfg.get_list("vif")
        for vif, spec in zip(guest.vifs, vifs):
            assert f"bridge={vif.bridge}" in spec.split(", ")
        if guest.vnc is not None:
            assert cfg.get_string("vnclisten") == guest.vnc.listen
            if guest.vnc.password is not None:
                assert cfg.get_string("vncpasswd") == guest.vnc.password
        if guest.serial is not None:
            assert cfg.get_string("serial") == guest.serial
        if guest.usbdevice:
            assert cfg.get_list("usbdevice") == guest.usbdevice
        for key, value in guest.extra.items():
            if isinstance(value, list):
                assert cfg.get_list(key) == value
            elif isinstance(value, str):
                assert cfg.get_string(key) == value
            else:
                assert cfg.get_long(key) == int(value)
    # The words the operations put on command lines (operations/commands.py quotes them).
    check_rc_value("xendomains_list", guest.name)
    commands: list[tuple[object, ...]] = [("xl", "create", config_path(guest)), ("xl", "shutdown", "-w", guest.name)]
    for disk in guest.disks:
        if disk.zvol:
            commands.append(("zfs", "create", "-V", disk.size, disk.zvol))
        elif disk.file:
            commands.append(("truncate", "-s", disk.size, disk.file))
        commands.append(("stat", "-L", "-f", "%HT %z", disk.target))
    if guest.cdrom is not None:
        commands.append(("sha256", "-q", guest.cdrom.path))
        if guest.cdrom.url:
            commands.append(("fetch", "-o", guest.cdrom.path, guest.cdrom.url))
    check_commands(commands)


@pytest.mark.parametrize(("key", "value"), list(cases()))
def test_hostile_value_is_refused_naming_the_key_or_carried_intact(key, value):
    result = outcome(key, value)
    if result.problems is not None:
        result.assert_refused_naming_the_key()
    else:
        result.assert_intact()


@pytest.mark.parametrize(("key", "value"), list(extra_cases()))
def test_hostile_extra_value_is_refused_or_read_back_by_libxlutil_intact(key, value):
    result = outcome(key, value)
    if result.problems is not None:
        assert any(p.startswith(f"{HOST}: xen_guests[0]") and f"extra {key[-1]} " in p for p in result.problems), (
            result.problems
        )
        if "passw" in key[-1]:
            assert not any(str(value) in p for p in result.problems)
    else:
        result.assert_intact()


# The cases of issue 10 by name, so a reader finds them.


def test_issue_cases_are_refused():
    assert outcome(("xen_bridge_ip",), "inet6 fe80::1%;reboot;/64").problems
    assert outcome(("xen_dom0_mem",), "8192M\n").problems
    secret = outcome(("xen_guests", 0, "vnc", "password"), 73914628)
    assert secret.problems and not any("73914628" in p for p in secret.problems)
    assert outcome(("xen_guests", 0, "disks", 0, "file"), "/etc/rc.conf").problems
    assert outcome(("xen_guests", 0, "disks", 0, "file"), "/boot/loader.conf").problems
    assert outcome(("xen_guests", 0, "cdrom", "path"), "/vm/web.img").problems  # its own disk


def test_quoted_password_is_carried_intact():
    outcome(("xen_guests", 0, "vnc", "password"), 'a"b\\c').assert_intact()
