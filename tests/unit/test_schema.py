"""Host-data validation: defaults, plain error messages, did-you-mean."""

import pytest

from spec.cmdline import size_to_mib
from spec.inventory import validate_inventory
from spec.schema import InventoryError, validate_dom0
from spec.versions import xen_release


def problems_for(data, host="xen1.example.org"):
    with pytest.raises(InventoryError) as error:
        validate_dom0(host, data)
    return error.value.problems


def test_only_members_given_yields_the_handbooks_dom0():
    spec = validate_dom0("xen1", {"xen_bridge_members": ["igb0"], "ssh_port": 22})
    assert spec.cmdline == (
        "dom0_mem=8192M dom0_max_vcpus=4 dom0=pvh console=com1,vga com1=115200,8n1 guest_loglvl=all loglvl=all"
    )
    assert spec.xen_bridge == "bridge0"
    assert spec.xen_bridge_style == "cloned"
    assert spec.xen_bridge_ip == "SYNCDHCP"
    assert spec.xen_reboot is True
    assert spec.release.packages == ("xen-kernel", "xen-tools")


def test_xen_47_uses_the_old_pvh_switch_and_versioned_packages():
    spec = validate_dom0("xen1", {"xen_bridge_members": ["em0"], "xen_version": "4.7", "xen_dom0_mem": "2G"})
    assert "dom0pvh=1" in spec.cmdline.split()
    assert "dom0=pvh" not in spec.cmdline.split()
    assert spec.release.packages == ("xen-kernel47", "xen-tools47")
    assert spec.release.loader_tunables == {"hw.pci.mcfg": "0"}
    assert spec.dom0_mem_mib == 2048


def test_xen_411_and_later():
    assert xen_release("4.11").packages == ("xen-kernel411", "xen-tools411")
    assert xen_release("4.19").packages == ("xen-kernel", "xen-tools")
    assert not xen_release("4.19").ships_boot_menu
    with pytest.raises(ValueError, match="never packaged"):
        xen_release("4.9")


def test_bad_memory_is_named_with_its_fix():
    [problem] = problems_for({"xen_bridge_members": ["em0"], "xen_dom0_mem": "lots"})
    assert problem == "xen1.example.org: xen_dom0_mem 'lots' is not a size: write it like 8192M or 8G"


def test_unknown_key_gets_did_you_mean():
    [problem] = problems_for({"xen_bridge_members": ["em0"], "xen_dom0_memory": "4G"})
    assert problem == "xen1.example.org: unknown host-data key xen_dom0_memory: did you mean xen_dom0_mem?"


@pytest.mark.parametrize("member", ["em0 em1", "em0;reboot", "$(id)", "bridge1", ""])
def test_bridge_members_must_be_interface_names(member):
    [problem] = problems_for({"xen_bridge_members": [member]})
    assert problem.startswith("xen1.example.org: xen_bridge_members ")


def test_missing_members_says_what_to_write():
    [problem] = problems_for({})
    assert "xen_bridge_members is required" in problem and "['em0']" in problem


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("xen_cmdline_extra", "dom0_mem=1G", "set from xen_dom0_mem"),
        ("xen_cmdline_extra", 'ucode=scan "x"', "cannot go on the Xen command line"),
        ("xen_bridge_ip", "192.0.2.1", "not an address setting"),
        ("xen_bridge_ip", "inet 192.0.2.1/24; reboot", "contains ';', which cannot be an address setting"),
        ("xen_bridge_ip", "inet6 fe80::1%;reboot;/64", "contains ';', which cannot be an address setting"),
        ("xen_bridge_ip", "inet 192.0.2.1/24 mtu $(reboot)", "contains '$'"),
        ("xen_bridge_ip", "inet 192.0.2.1", "no prefix length"),
        ("xen_bridge_ip", "inet 2001:db8::1/64", "not an IPv4 address: write inet6 before it"),
        ("xen_bridge_ip", "inet6 fe80::1%em0/64x", "not an address with a prefix length"),
        ("xen_bridge_ip", "SYNCDHCP\n", "contains a newline"),
        ("xen_dom0_mem", "8192M\n", "is not a size"),
        ("xen_dom0_mem", "8192M\x00", "is not a size"),
        ("xen_version", "4.17\n", "not a Xen version"),
        ("xen_version", "4.\u0661\u0667", "not a Xen version"),
        ("xen_console", "vga\n", "not a Xen console list"),
        ("xen_serial", "com1=115200,8n1\n", "not a serial setting"),
        ("xen_loglvl", "all\n", "not a Xen log level"),
        ("xen_bridge", "bridge0\n", "not a FreeBSD bridge name"),
        ("xen_reboot", "yes", "valid boolean"),
        ("xen_dom0_max_vcpus", "4", "valid integer"),
        ("xen_bridge_style", "bridged", "'cloned' or 'autobridge'"),
        ("xen_version", "5.0", "not a Xen version"),
        ("xen_console", "com3", "not a Xen console list"),
        ("xen_loglvl", "verbose", "not a Xen log level"),
        ("xen_dom0_max_vcpus", 0, "greater than or equal to 1"),
        ("xen_bridge", "br0", "not a FreeBSD bridge name"),
    ],
)
def test_each_key_is_checked(key, value, fragment):
    [problem] = problems_for({"xen_bridge_members": ["em0"], key: value})
    assert problem.startswith(f"xen1.example.org: {key} ")
    assert fragment in problem


@pytest.mark.parametrize(
    "value",
    ["inet 192.0.2.10/24", "inet6 2001:db8::10/64", "inet6 fe80::1%bridge0/64", "inet 192.0.2.10/24 mtu 9000",
     "inet6 2001:db8::10/64 -ifdisabled", "", "DHCP", "SYNCDHCP"],
)
def test_bridge_address_settings_are_accepted(value):
    spec = validate_dom0("h", {"xen_bridge_members": ["em0"], "xen_bridge_ip": value})
    assert spec.xen_bridge_ip == value


@pytest.mark.parametrize("member", ["em0\n", "em0 ", "-em0", "em\u0660"])
def test_bridge_members_refuse_newlines_and_lookalikes(member):
    [problem] = problems_for({"xen_bridge_members": [member]})
    assert problem.startswith("xen1.example.org: xen_bridge_members ")


def test_whole_inventory_reports_every_host():
    with pytest.raises(InventoryError) as error:
        validate_inventory([("a", {"xen_bridge_members": ["em0"]}), ("b", {}), ("c", {"xen_bridge_members": ["em0"], "xen_reboot": "sometimes"})])
    assert [p.split(":")[0] for p in error.value.problems] == ["b", "c"]


def test_sizes():
    assert size_to_mib("8192M") == 8192
    assert size_to_mib("4G") == 4096
    with pytest.raises(ValueError):
        size_to_mib("4096")


# xen_migrate_ssh: one transport for xl and for the probe (spec.transport)

import os  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402

from spec.fleet import validate_guests  # noqa: E402
from spec.transport import migrate_rune, migrate_transport, transport_probe_argv  # noqa: E402


def guests_problems(data, host="xen1"):
    with pytest.raises(InventoryError) as error:
        validate_guests(host, data)
    return error.value.problems


@pytest.mark.parametrize(
    "transport",
    ["ssh", "ssh -p 2222", "/usr/bin/ssh -i /root/.ssh/migrate -p 22", "ssh -o Ciphers=aes128-ctr -J jump@gw:22"],
)
def test_transport_reaches_ssh_with_the_same_words_from_xl_and_from_the_probe(tmp_path, transport):
    # A stand-in ssh that records its argv: xl's sh -c line and the probe must hand it the same words.
    fake = tmp_path / "ssh"
    fake.write_text('#!/bin/sh\nfor word in "$@"; do printf "%s\\n" "$word"; done\n')
    fake.chmod(0o755)
    program = transport.split()[0]
    env = dict(os.environ, PATH=f"{tmp_path}:/usr/bin:/bin")
    rune = migrate_rune(transport, "xen2.example.org").replace(program, str(fake), 1)
    probe = transport_probe_argv(transport, "xen2.example.org")
    probe[2] = probe[2].replace(program, str(fake), 1)
    from_xl = subprocess.run(["sh", "-c", rune], capture_output=True, text=True, env=env, check=True).stdout.split("\n")
    from_probe = subprocess.run(probe, capture_output=True, text=True, env=env, check=True).stdout.split("\n")
    words = [*transport.split()[1:], "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "xen2.example.org"]
    assert from_xl[: len(words)] == words and from_xl[len(words):-1] == ["xl", "migrate-receive"]
    assert from_probe[: len(words)] == words and from_probe[len(words):-1] == ["true"]
    # One argument for xl -s: shlex (what a shell-quoted command line gives back) keeps it whole.
    assert shlex.split(f"xl migrate -s {shlex.quote(migrate_transport(transport))} web xen2") == [
        "xl", "migrate", "-s", migrate_transport(transport), "web", "xen2",
    ]


@pytest.mark.parametrize(
    ("transport", "fragment"),
    [
        ("ssh -p 2222; reboot", "contains ';'"),
        ("ssh -o ProxyCommand=$(reboot)", "contains '$'"),
        ("ssh `id`", "contains '`'"),
        ('ssh "-p" 1', "contains '\"'"),
        ("ssh -p 22\n", "contains a newline"),
        ("ssh\t-p 22", "contains a tab"),
        ("ssh -i ~/.ssh/k", "contains '~'"),
        ("ssh -p *", "contains '*'"),
        ("ssh  -p 22", "empty word"),
        ("-p 22", "starts with an option"),
        ("rsh xen2", "not ssh"),
        ("bin/ssh", "not ssh"),
        ("ssh -p 2222 &", "contains '&'"),
    ],
)
def test_transport_with_shell_syntax_is_refused(transport, fragment):
    [problem] = guests_problems({"xen_migrate_ssh": transport})
    assert problem.startswith("xen1: xen_migrate_ssh ") and fragment in problem


@pytest.mark.parametrize("address", ["-oProxyCommand=reboot", "xen2;reboot", "xen2 xen3", "", "xen2\n"])
def test_migration_address_is_one_plain_word(address):
    [problem] = guests_problems({"xen_migrate_address": address})
    assert problem.startswith("xen1: xen_migrate_address ")


def test_inventory_name_as_address_must_be_a_host_name():
    spec = validate_guests("@local", {})
    with pytest.raises(ValueError, match="set xen_migrate_address"):
        spec.migration_address("@local")
    assert validate_guests("xen2.example.org", {}).migration_address("xen2.example.org") == "xen2.example.org"
    assert validate_guests("@local", {"xen_migrate_address": "192.0.2.2"}).migration_address("@local") == "192.0.2.2"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"xen_reboot": "yes"}, "xen1: xen_reboot 'yes': Input should be a valid boolean: write True or False, without quotes"),
        ({"xen_dom0_max_vcpus": "4"}, "xen1: xen_dom0_max_vcpus '4': Input should be a valid integer: write a whole number without quotes, e.g. 4"),
        ({"xen_bridge_members": "em0"}, "xen1: xen_bridge_members 'em0': Input should be a valid list: write a list, e.g. ['em0']"),
    ],
)
def test_type_errors_say_what_to_write(data, expected):
    assert problems_for({"xen_bridge_members": ["em0"], **data}, host="xen1") == [expected]


def test_a_guest_part_of_the_wrong_type_is_described_without_internal_names_or_its_value():
    [problem] = guests_problems({"xen_guests": [{"name": "a", "memory": 1, "vnc": "hunter22"}]})
    assert problem == "xen1: xen_guests[0].vnc is not a mapping: write a mapping of its keys (see the README's host-data reference)"


def test_a_declared_xen_version_refuses_what_its_xl_cannot_take_before_connecting():
    from spec.inventory import check_fleet

    def guest(name, **changes):
        return {"name": name, "memory": 512, **changes}

    bridge = {"xen_bridge_members": ["em0"]}
    trad = {"extra": {"device_model_version": "qemu-xen-traditional"}}
    problems = check_fleet([
        ("new", {**bridge, "xen_version": "4.21", "xen_guests": [guest("a", **trad)]}),
        ("old", {**bridge, "xen_version": "4.7", "xen_guests": [guest("b", type="pvh"), guest("c", type="hvm")]}),
        ("any", {**bridge, "xen_guests": [guest("d", type="pvh", **trad)]}),   # the pre-flight checks the running Xen
        ("idle", {**bridge, "xen_version": "4.21", "xen_guests": [guest("e", state="absent", **trad)]}),
    ]).problems
    assert list(problems) == ["new", "old"]
    [new] = problems["new"]
    assert new.startswith("new: xen_guests[0] (a): extra device_model_version = 'qemu-xen-traditional': Xen 4.21 "
                          "removed qemu-xen-traditional") and new.endswith("(xen_version is 4.21)")
    [old] = problems["old"]
    assert old.startswith("old: xen_guests[0]: guest b: type 'pvh' needs Xen 4.10 or later")
