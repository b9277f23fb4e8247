"""facts/xl.py parsers on real xl output (sources: tests/fixtures/outputs/SOURCES.md)."""

from pathlib import Path

import pytest

from facts.guests import guests_commands
from facts.xl import (
    xl_list_long_command,
    STATE_FLAGS,
    XlDomain,
    XlDomainConfig,
    XlInfo,
    XlList,
    decode_state,
    parse_xl_info,
    parse_xl_list,
    parse_xl_list_long,
)

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"


def fixture(name: str) -> str:
    return (OUT / name).read_text()


def test_state_flags_order_follows_xl_manpage():
    assert STATE_FLAGS == ("running", "blocked", "paused", "shutdown", "crashed", "dying")


def test_handbook_dom0_only():
    assert parse_xl_list(fixture("xl_list.handbook_dom0.txt")) == [
        XlDomain("Domain-0", 0, 8192, 4, frozenset({"running"}), "r-----", 962.0),
    ]


def test_handbook_with_domu():
    domains = parse_xl_list(fixture("xl_list.handbook_domu.txt"))
    assert [(d.name, d.domid, d.mem_mib, d.vcpus, d.state_flags, d.cpu_time) for d in domains] == [
        ("Domain-0", 0, 8192, 4, "r-----", 1653.4),
        ("freebsd", 1, 1024, 1, "-b----", 663.9),
    ]
    assert domains[1].state == frozenset({"blocked"})
    assert not domains[1].running


def test_manpage_example():
    domains = parse_xl_list(fixture("xl_list.manpage.txt"))
    assert [d.name for d in domains] == ["Domain-0", "win", "linux"]
    assert domains[0].cpu_time == 11794.3
    assert domains[2].mem_mib == 2048 and domains[2].vcpus == 2


def test_tab_separated_header_from_xen_devel():
    text = fixture("xl_list.xen_devel_tabs.txt")
    assert "\t" in text.splitlines()[0]
    domains = parse_xl_list(text)
    assert [(d.name, d.domid, d.mem_mib, d.vcpus, d.cpu_time) for d in domains] == [
        ("Domain-0", 0, 768, 2, 1439.4),
        ("freebsd", 1, 1152, 1, 3.0),
    ]


def test_extra_claimed_column_is_ignored_and_paused_decoded():
    domains = parse_xl_list(fixture("xl_claims.manpage.txt"))
    assert [d.name for d in domains] == ["Domain-0", "OL5", "OL6", "Windows_XP"]
    ol5 = domains[1]
    assert (ol5.domid, ol5.mem_mib, ol5.vcpus, ol5.cpu_time) == (2, 2048, 1, 0.0)
    assert ol5.state == frozenset({"paused"}) and ol5.paused


def test_nameless_domains():
    domains = parse_xl_list(fixture("xl_list.null_domains.txt"))
    assert [(d.name, d.domid, d.mem_mib, d.vcpus, d.state_flags) for d in domains] == [
        ("Domain-0", 0, 752, 4, "r-----"),
        ("(null)", 1, 0, 0, "--p---"),
        ("(null)", 2, 0, 0, "--p---"),
    ]


def test_security_label_column_of_list_Z_is_ignored():
    # Row layout from tools/xl/xl_info.c with -Z: " %16s" label after Time(s).
    text = (
        "Name                                        ID   Mem VCPUs\tState\tTime(s)   Security Label\n"
        "Domain-0                                     0  8192     4     r-----     962.0 system_u:system_r:dom0_t\n"
    )
    assert parse_xl_list(text) == [XlDomain("Domain-0", 0, 8192, 4, frozenset({"running"}), "r-----", 962.0)]


@pytest.mark.parametrize(
    "flags,state",
    [
        ("------", frozenset()),
        ("r-----", frozenset({"running"})),
        ("-b----", frozenset({"blocked"})),
        ("--p---", frozenset({"paused"})),
        ("---s--", frozenset({"shutdown"})),
        ("---sc-", frozenset({"shutdown", "crashed"})),
        ("-----d", frozenset({"dying"})),
        ("--ps-d", frozenset({"paused", "shutdown", "dying"})),
        # 5th position is the shutdown reason letter ("-rscwS"): only 'c' is a state
        ("---sr-", frozenset({"shutdown"})),
        ("---sw-", frozenset({"shutdown"})),
    ],
)
def test_decode_state(flags, state):
    assert decode_state(flags) == state


def test_dying_and_crashed_rows():
    text = (
        "Name                                        ID   Mem VCPUs      State   Time(s)\n"
        "\n"
        "old                                          7     0     1     ---scd       5.2\n"
        "gone                                         8   512     1     -----d       0.1\n"
    )
    old, gone = parse_xl_list(text)
    assert old.state == frozenset({"shutdown", "crashed", "dying"}) and old.state_flags == "---scd"
    assert gone.state == frozenset({"dying"})


def test_blank_gives_no_domains_and_anything_unreadable_is_an_error():
    assert parse_xl_list("") == []
    # the reads parse xl list only when it succeeded; its failure text is not "no domains"
    with pytest.raises(ValueError, match="unexpected xl list line: 'cannot init xl context'"):
        parse_xl_list(fixture("xl_error.no_hypervisor.txt"))
    header = "Name                                        ID   Mem VCPUs\tState\tTime(s)\n"
    row = "web                                          3  1024     2     -b----      12.5\n"
    # a row cut short (a name with a newline, a truncated answer) is not skipped
    with pytest.raises(ValueError, match="unexpected xl list line: 'web   3  1024'"):
        parse_xl_list(header + "web   3  1024\n")
    # libxl's own diagnostics on stderr are not rows
    warning = "libxl: warning: libxl_utils.c:123:libxl_something: a warning\n"
    assert [d.name for d in parse_xl_list(header + warning + row)] == ["web"]


def test_decode_state_rejects_wrong_width():
    with pytest.raises(ValueError):
        decode_state("r----")


def test_xl_info_manpage():
    info = parse_xl_info(fixture("xl_info.manpage.txt"))
    assert info["host"] == "scarlett"
    assert info["total_memory"] == 6141 and info["free_memory"] == 4274
    assert info["nr_cpus"] == 4 and info["nr_nodes"] == 1
    assert info["cores_per_socket"] == 4 and info["threads_per_core"] == 1
    assert info["cpu_mhz"] == 2266
    assert info["xen_major"] == 4 and info["xen_minor"] == 2
    assert info["xen_extra"] == "-unstable"
    assert info["free_cpus"] == 0 and info["outstanding_claims"] == 0
    assert info["virt_caps"] == frozenset({"hvm", "hvm_directio"})
    assert info["xen_caps"] == frozenset(
        {"xen-3.0-x86_64", "xen-3.0-x86_32p", "hvm-3.0-x86_32", "hvm-3.0-x86_32p", "hvm-3.0-x86_64"},
    )
    assert info["xen_commandline"] == "com1=115200,8n1 guest_loglvl=all dom0_mem=750M console=com1"
    assert info["xen_changeset"] == "Wed Nov 02 17:09:09 2011 +0000 24066:54a5e994a241"
    assert info["hw_caps"] == "bfebfbff:28100800:00000000:00003b40:009ce3bd:00000000:00000001:00000000"
    assert info["xen_pagesize"] == "4096"  # not in the integer list: kept as text
    assert "xen_version" not in info  # Xen 4.2 did not print it


def test_xl_info_newer_xen_with_fractional_mhz():
    info = parse_xl_info(fixture("xl_info.xilinx_zynqmp.txt"))
    assert info["cpu_mhz"] == 99
    assert info["xen_version"] == "4.17.0"
    assert (info["xen_major"], info["xen_minor"]) == (4, 17)
    assert info["sharing_used_memory"] == 0 and info["sharing_freed_memory"] == 0
    assert info["virt_caps"] == frozenset({"hvm", "hvm_directio", "hap", "iommu_hap_pt_share", "vpmu", "gnttab-v1"})
    assert info["cc_compile_domain"] == ""
    assert info["xen_commandline"].endswith("dom0_mem=1500M dom0_max_vcpus=1 bootscrub=0 vwfi=native")


def test_xl_info_ignores_lines_without_name_value():
    assert parse_xl_info(fixture("xl_error.no_hypervisor.txt")) == {}


def test_xl_list_long():
    domains = parse_xl_list_long(fixture("xl_list_long.libvirt_configs.json"))
    assert sorted(domains) == ["test-hvm", "test-pv"]
    hvm = domains["test-hvm"]
    assert hvm["domid"] == 1
    config = hvm["config"]
    assert config["c_info"]["uuid"] == "2147d599-9cc6-c0dc-92ab-4064b5446e9b"
    assert config["b_info"]["max_memkb"] == 1048576 and config["b_info"]["target_memkb"] == 1048576
    assert config["b_info"]["max_vcpus"] == 4 and config["b_info"]["avail_vcpus"] == [0, 1, 2, 3]
    assert config["disks"][0]["pdev_path"] == "/var/lib/xen/images/test-hvm.img"
    assert config["nics"][0]["mac"] == "00:16:3e:66:12:b4" and config["nics"][0]["bridge"] == "br0"
    assert domains["test-pv"]["domid"] == 2 and domains["test-pv"]["config"]["c_info"]["type"] == "pv"


def test_xl_list_long_empty_and_bad():
    assert parse_xl_list_long("") == {}
    assert parse_xl_list_long("[\n]\n") == {}
    with pytest.raises(ValueError):
        parse_xl_list_long(fixture("xl_error.invalid_domain.txt"))
    with pytest.raises(ValueError):
        parse_xl_list_long('[{"domid": 3}]')


def test_fact_commands():
    assert XlList().command() == "xl list"
    assert XlInfo().command() == "xl info"
    # Every read of xl list -l redacts on the host, the standalone fact's too.
    assert XlDomainConfig().command() == xl_list_long_command() == guests_commands((), (), ())["xl_long"]
    assert XlDomainConfig().command().startswith("json=$(xl list -l 2>&1); ")
    assert "sed -E" in XlDomainConfig().command()
    assert XlDomainConfig().command("freebsd").startswith("json=$(xl list -l freebsd 2>&1); ")
    assert XlDomainConfig().command("it's").startswith("json=$(xl list -l 'it'\"'\"'s' 2>&1); ")


def test_fact_process():
    lines = fixture("xl_list.handbook_domu.txt").splitlines()
    assert [d.name for d in XlList().process(lines)] == ["Domain-0", "freebsd"]
    assert XlInfo().process(fixture("xl_info.manpage.txt").splitlines())["free_memory"] == 4274
    long_lines = fixture("xl_list_long.libvirt_configs.json").splitlines()
    assert set(XlDomainConfig().process(long_lines)) == {"test-hvm", "test-pv"}


# libxl's JSON of a domain with VNC and SPICE passwords (yajl layout as xl
# list -l prints it: tools/xl/xl_info.c printf_info); the second password holds
# an escaped quote, which libxlutil accepts as \" in a config file.
LONG_WITH_SECRETS = """[
    {
        "domid": 3,
        "config": {
            "c_info": {"type": "hvm", "name": "web"},
            "b_info": {"type.hvm": {
                "vnc": {"enable": "True", "listen": "127.0.0.1", "passwd": "s3cret"},
                "spice": {"passwd" : "ab\\\\\\"cd\\\\\\\\", "host": "h"}
            }}
        }
    }
]"""


@pytest.mark.parametrize("sed", ["sed", "busybox sed"])
def test_every_read_of_xl_list_long_redacts_on_the_host(tmp_path, sed):
    import shutil
    import subprocess

    if sed == "busybox sed" and not shutil.which("busybox"):
        pytest.skip("no busybox")
    (tmp_path / "xl").write_text(f"#!/bin/sh\ncat <<'EOF'\n{LONG_WITH_SECRETS}\nEOF\nexit 0\n")
    (tmp_path / "xl").chmod(0o755)
    (tmp_path / "sed").write_text(f'#!/bin/sh\nexec {shutil.which(sed.split()[0])} {" ".join(sed.split()[1:])} "$@"\n')
    (tmp_path / "sed").chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    for command in (XlDomainConfig().command(), XlDomainConfig().command("web"), guests_commands((), (), ())["xl_long"]):
        done = subprocess.run([shutil.which("dash") or "/bin/sh", "-c", command], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        assert "s3cret" not in done.stdout and "cd" not in done.stdout
        parsed = XlDomainConfig().process(done.stdout.splitlines())
        hvm = parsed["web"]["config"]["b_info"]["type.hvm"]
        assert hvm["vnc"]["passwd"] == hvm["spice"]["passwd"] == "<redacted>"
        assert hvm["spice"]["host"] == "h" and hvm["vnc"]["listen"] == "127.0.0.1"


def test_xl_list_long_keeps_xls_exit_status_and_never_shows_the_text_it_cannot_parse():
    from facts.sections import ReadError

    with pytest.raises(ReadError) as refused:
        XlDomainConfig().process(['[{"config": {"b_info": {"passwd": "s3cret"'])
    assert "s3cret" not in str(refused.value)
    assert xl_list_long_command().endswith("(exit $rc)")
