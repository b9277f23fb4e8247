"""
Base tools of the simulated FreeBSD host that busybox made kinder than FreeBSD's:
timeout(1) (usr.bin/timeout/timeout.c: exit 124, the whole process group is signalled),
sha256(1) -c (md5(1): exit 2 and " [ Failed ]" on a mismatch), sed(1) (no long options,
options end at the first operand), date(1) (no -d; -r seconds).  Each test drives the
simulated host directly.
"""

from __future__ import annotations

import os
import time

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def host():
    if os.geteuid() != 0:
        pytest.skip("simhost needs root")
    from simhost import Fleet
    from simhost.fleet import cleanup_stale

    cleanup_stale()
    fleet = Fleet()
    try:
        h = fleet.add("bsd1", "freebsd14")
        fleet.start()
        yield h
    finally:
        fleet.stop()


def run(host, command: str):
    res = host.run(command)
    return res.returncode, res.stdout, res.stderr


def test_timeout_exits_124_and_kills_the_whole_group(host):
    assert host.exists("/usr/bin/timeout") and not host.exists("/bin/timeout")  # FreeBSD's place
    t = time.monotonic()
    assert run(host, "timeout 1 sleep 5") == (124, "", "")
    assert time.monotonic() - t < 3
    assert run(host, "timeout --preserve-status 0.5 sleep 5")[0] == 143
    assert run(host, "timeout -s KILL 0.5 sleep 5")[0] == 124
    assert run(host, "timeout 5 sh -c 'exit 3'")[0] == 3
    assert run(host, "echo hi | timeout 5 cat") == (0, "hi\n", "")  # stdin reaches the command
    # a grandchild dies with the command (busybox's timeout only signals the child)
    host.run("rm -f /tmp/survived")
    assert run(host, "timeout 1 sh -c '(sleep 2; touch /tmp/survived) & sleep 30'")[0] == 124
    time.sleep(2.5)
    assert not host.exists("/tmp/survived")
    # --foreground: only the command itself is signalled
    assert run(host, "timeout --foreground 1 sh -c '(sleep 1.5; touch /tmp/survived) >/dev/null & exec sleep 30'")[0] == 124
    time.sleep(1.5)
    assert host.exists("/tmp/survived")
    # -k: a command that ignores the signal is killed after the grace time
    t = time.monotonic()
    assert run(host, "timeout -k 0.5 0.5 sh -c 'trap \"\" TERM; sleep 5'")[0] == 124
    assert time.monotonic() - t < 3
    assert run(host, "timeout 1 nosuch") == (69, "", "timeout: exec(): No such file or directory\n")
    assert run(host, "timeout x true") == (1, "", "timeout: invalid duration\n")
    assert run(host, "timeout 1m true")[0] == 0


def test_sha256_c_compares(host):
    host.write("/tmp/f", "abc")
    good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert run(host, f"sha256 -c {good} /tmp/f") == (0, f"SHA256 (/tmp/f) = {good}\n", "")
    assert run(host, f"sha256 -c {good.upper()} /tmp/f")[0] == 0  # case-insensitive
    assert run(host, "sha256 -c 00 /tmp/f") == (2, f"SHA256 (/tmp/f) = {good} [ Failed ]\n", "")
    assert run(host, "sha256 -q -c 00 /tmp/f") == (2, f"{good}\n", "")
    assert run(host, "sha256 -q /tmp/f") == (0, f"{good}\n", "")


def test_sed_has_no_long_options_and_no_permutation(host):
    usage = ("usage: sed script [-Ealnru] [-i extension] [file ...]\n"
             "\tsed [-Ealnu] [-i extension] [-e script] ... [-f script_file] ... [file ...]\n")
    assert run(host, "sed --version") == (1, "", "sed: illegal option -- -\n" + usage)
    assert run(host, "echo ab | sed --expression=s/a/b/")[0] == 1
    # after the script, -n is a file name, not an option
    rc, out, err = run(host, "echo ab | sed 's/a/q/' -n")
    assert rc == 1 and out == "" and "-n" in err
    assert run(host, "echo ab | sed -ne 's/a/z/p'") == (0, "zb\n", "")
    host.write("/tmp/t", "a=1\n")
    assert run(host, "sed -i '' -e 's/1/2/' /tmp/t")[0] == 0 and host.read("/tmp/t") == "a=2\n"
    assert run(host, "sed -i.bak 's/2/3/' /tmp/t")[0] == 0 and host.read("/tmp/t.bak") == "a=2\n"


def test_date_has_no_d(host):
    rc, out, err = run(host, "date -d @0")
    assert (rc, out) == (1, "") and err.startswith("date: illegal option -- d\nusage: date [-jnRu]")
    assert run(host, "date -u -r 0") == (0, "Thu Jan  1 00:00:00 UTC 1970\n", "")
    assert run(host, "date -u -r 86400 +%Y-%m-%d") == (0, "1970-01-02\n", "")
    rc, out, _ = run(host, "date +%s")
    assert rc == 0 and abs(int(out) - time.time()) < 5
    assert run(host, "date --iso-8601")[0] == 1


# -- sysrc(8): f_sysrc_set of usr.sbin/bsdconfig/share/sysrc.subr -----------------------------------

def test_sysrc_appends_to_a_file_without_a_final_newline_as_freebsd_does(host):
    host.write("/tmp/a.conf", 'hostname="a"\nzfs_enable="YES"')  # no final newline
    assert run(host, "sysrc -f /tmp/a.conf xencommons_enable=YES") == (0, "xencommons_enable:  -> YES\n", "")
    # `echo ... >> file`: the new assignment lands on the last line, and rc would read
    # zfs_enable as 'YESxencommons_enable=YES'
    assert host.read("/tmp/a.conf") == 'hostname="a"\nzfs_enable="YES"xencommons_enable="YES"\n'
    assert run(host, "sh -c '. /tmp/a.conf; echo $zfs_enable'")[1] == "YESxencommons_enable=YES\n"
    # with the variable present, `tail -r` glues the last two lines the same way
    host.write("/tmp/b.conf", 'x="1"\ny="2"')
    assert run(host, "sysrc -f /tmp/b.conf x=5")[0] == 0
    assert host.read("/tmp/b.conf") == 'y="2"x="1"\n'


def test_sysrc_rewrites_the_last_assignment_in_place(host):
    host.write("/tmp/c.conf", "a=\"1\" # keep\nb=2\nc='x y'\nd=$(echo)\na=\"3\"\ne=\n\n")
    inode = host.path("/tmp/c.conf").stat().st_ino
    assert run(host, "sysrc -f /tmp/c.conf a=9")[0] == 0
    assert host.path("/tmp/c.conf").stat().st_ino != inode  # mv of a new file, not a rewrite
    assert run(host, "sysrc -f /tmp/c.conf b=8 c=7 d=6 e=5")[0] == 0
    assert host.read("/tmp/c.conf") == "a=\"1\" # keep\nb=\"8\"\nc='7'\nd=$(echo)\na=\"9\"\ne=5\n\nd=\"6\"\n"
    host.write("/tmp/d.conf", 'x="1"\nif true\n')
    rc, out, err = run(host, "sysrc -f /tmp/d.conf x=2")
    assert rc == 1 and err.endswith("sysrc: Not overwriting `/tmp/d.conf' due to previous syntax errors\n")
    assert host.read("/tmp/d.conf") == 'x="1"\nif true\n'


def test_sysrc_x_deletes_every_assignment_in_every_file(host):
    host.write("/etc/rc.conf.local", 'k="1"\nother="x"\n')
    rc_conf = host.read("/etc/rc.conf")
    host.write("/etc/rc.conf", rc_conf + 'rc_conf_files="/etc/rc.conf /etc/rc.conf.local"\nk="0"\n  k="2"\n')
    try:
        assert run(host, "sysrc -x k")[0] == 0
        assert host.read("/etc/rc.conf") == rc_conf + 'rc_conf_files="/etc/rc.conf /etc/rc.conf.local"\n'
        assert host.read("/etc/rc.conf.local") == 'other="x"\n'
        assert run(host, "sysrc -x k") == (1, "", "sysrc: unknown variable 'k'\n")
    finally:
        host.write("/etc/rc.conf", rc_conf)
        host.run("rm -f /etc/rc.conf.local")


def test_od_x1_fields_are_four_columns_as_freebsds_hexdump_prints_them(host):
    host.write("/tmp/o", "0123456789abcdefXY")
    assert run(host, "od -A n -t x1 -v /tmp/o") == (
        0, "  30  31  32  33  34  35  36  37  38  39  61  62  63  64  65  66\n  58  59\n", "")
    assert run(host, "od -t x1 /tmp/o")[1] == (
        "0000000  30  31  32  33  34  35  36  37  38  39  61  62  63  64  65  66\n0000020  58  59\n0000022\n")
    assert run(host, "od -A n -t x1 -v /nonexist") == (1, "", "od: /nonexist: No such file or directory\n")
