"""
The simulated `xl create` reads a config file with libxlutil's grammar: the lexer of
tools/libs/util/libxlu_cfg_l.l (IDENT is [a-z][._0-9a-z]*, NUMBER [0-9][0-9a-fx]*,
anything else a "lexical error"), the escapes of xlu__cfgl_dequote() and bison's
verbose syntax errors.  Each case is checked against the real libxlutil (Debian's
libxenmisc4.17, through tests/xlparse.py): the simulated host must accept exactly
what it accepts, with its messages, and read the same values.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xlparse import XlParseError, parse_cfg, require_libxlutil  # noqa: E402

pytestmark = pytest.mark.e2e

CASES = [
    # strings and their escapes
    'v = "a\\"b\\\\c"\n', "v = 'it\\'s'\n", 'v = "x\\qy"\n', 'v = "h\\x41i"\n', 'v = "o\\101k"\n',
    'v = "o\\12"\n', 'v = "ends\\"\n', 'v = "unterminated\n', 'v = "a" # comment\n',
    # the lexer's words
    "memory = 1024M\n", 'Name = "x"\n', "kernel = /boot/x\n", "v = 0x1f\n", "v = os.path\n", "v_x.y = 3\n",
    # the grammar
    "= 3\n", "v 3\n", "v = \n", "v =", 'v = [ "a" "b" ]\n', "v = [ , ]\n", 'v = "x" "y"\n', "v = 3 4\n",
    'v = [ "a"\n', 'v = [ "a", 3 ] x\n', '"s" = 4\n', "v = ]\n", "v = ;\n", ";;v=1\n", "v += 3\n",
    'v = "a",\n', 'v = [ "a" ; ]\n', 'v = [\n"a", "b",\n]\nw = = 1\n', 'v = "no final newline"', "type = hvm\n",
]


@pytest.fixture(scope="module")
def host():
    require_libxlutil()
    if os.geteuid() != 0:
        pytest.skip("simhost needs root")
    from simhost import Fleet
    from simhost.fleet import cleanup_stale

    cleanup_stale()
    fleet = Fleet()
    try:
        h = fleet.add("xen1", "freebsd14")
        fleet.start()
        h.bootstrap_pkg()
        res = h.run("pkg install -y xen-kernel xen-tools")
        assert res.returncode == 0, res.stderr
        h.write("/boot/loader.conf", h.read("/boot/loader.conf")
                + 'xen_kernel="/boot/xen"\nxen_cmdline="dom0_mem=2048M dom0=pvh"\n')
        h.write("/etc/rc.conf", h.read("/etc/rc.conf") + 'xencommons_enable="YES"\n')
        h.write("/etc/login.conf", h.read("/etc/login.conf").replace(":memorylocked=64K:", ":memorylocked=unlimited:"))
        h.write("/etc/sysctl.conf", "vm.max_user_wired=-1\n")
        h.path("/var/log/xen").mkdir(mode=0o755, exist_ok=True)
        assert h.run("cap_mkdb /etc/login.conf").returncode == 0
        fleet.power_cycle("xen1")
        assert h.sim_state()["kernel"] == "xen"
        yield h
    finally:
        fleet.stop()


def real(text: str) -> tuple[str, str]:
    try:
        cfg = parse_cfg(text, filename="guest.cfg")
    except XlParseError as e:
        return "refused", e.report
    try:
        return "accepted", cfg.get_string("v")
    except (KeyError, XlParseError):  # no v, or v is not a string
        return "accepted", ""


def simulated(host, text: str) -> tuple[str, str]:
    host.write("/tmp/guest.cfg", text)
    res = host.run("cd /tmp && xl create -n guest.cfg")
    lines = res.stderr.splitlines(keepends=True)
    assert lines[0] == "Parsing config from guest.cfg\n"
    if lines[-1] == "Failed to parse config: Invalid argument\n":
        return "refused", "".join(lines[1:-1])
    # parsed (xl may refuse it later, e.g. "Domain name must be specified."): the value read
    norm = host.run("awk -v src=guest.cfg -f /.sim/lib/xlcfg.awk /tmp/guest.cfg").stdout
    values = [line.split("\t", 2)[2] for line in norm.splitlines() if line.startswith("S\tv\t")]
    return "accepted", values[-1] if values else ""


@pytest.mark.parametrize("text", CASES)
def test_xl_create_parses_as_libxlutil(host, text):
    assert simulated(host, text) == real(text)


def test_xl_list_l_carries_escaped_values_intact(host):
    """A value with a quote and a backslash (\\c, which dash's echo would read as "stop")
    reaches `xl list -l` as libxlutil read it."""
    text = ('name = "esc"\ntype = "hvm"\nmemory = 128\n'
            'disk = [ "format=raw, vdev=hda, access=rw, target=/tmp/esc.img" ]\n'
            'vnc = 1\nvncpasswd = "a\\"b\\\\c$`"\n')
    assert parse_cfg(text).get_string("vncpasswd") == 'a"b\\c$`'
    host.write("/tmp/esc.cfg", text)
    assert host.run("truncate -s 64M /tmp/esc.img && xl create /tmp/esc.cfg").returncode == 0
    try:
        listing = json.loads(host.run("xl list -l esc").stdout)
        assert listing[0]["config"]["b_info"]["type.hvm"]["vnc"]["passwd"] == 'a"b\\c$`'
    finally:
        host.run("xl destroy esc")
