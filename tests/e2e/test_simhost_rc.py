"""
The simulated FreeBSD host's /etc/rc, service(8), rc.shutdown, reboot(8) versus
shutdown(8), and init's kern.init_shutdown_timeout, held to FreeBSD's sources:

- libexec/rc/rc: HOME=/ PATH=/sbin:/bin:/usr/sbin:/usr/bin; local scripts must be
  executable and have a "# PROVIDE:" line (rc.subr find_local_scripts_new); each is
  sourced with "faststart".
- usr.sbin/service/service.sh: `env -i HOME=/ PATH=/sbin:/bin:/usr/sbin:/usr/bin`, only
  executable scripts, messages on stdout.
- libexec/rc/rc.shutdown: PATH adds /usr/local/sbin; rcshutdown_timeout watchdog.
- sbin/reboot/reboot.c: kills every process and reboots, no rc.shutdown.
- sbin/init/init.c runshutdown(): rc.shutdown gets kern.init_shutdown_timeout seconds
  (default 120, below 2 means 120), then SIGTERM and every process is killed.

Each test drives the simulated host directly (no product code).
"""

from __future__ import annotations

import re
import time

import pytest

from tests.simdom0 import sh, simulated_dom0

pytestmark = pytest.mark.e2e

XL = "/usr/local/sbin/xl"


def guest_cfg(name: str) -> str:
    return (f'name = "{name}"\ntype = "pvh"\nmemory = 256\nvcpus = 1\n'
            f"disk = [ 'format=raw, vdev=xvda, access=rw, target=/dev/zvol/zroot/xen/{name}-disk0' ]\n"
            f"vif = [ 'bridge=bridge0' ]\n")


def rc_script(name: str, start: str, stop: str = ":", keyword: str = "shutdown") -> str:
    """A port-style rc.d script whose start/stop bodies are `start` and `stop`."""
    return (
        f"#!/bin/sh\n#\n# PROVIDE: {name}\n# REQUIRE: xencommons\n# KEYWORD: {keyword}\n\n"
        f". /etc/rc.subr\n\nname={name}\nrcvar={name}_enable\n"
        f"start_cmd={name}_start\nstop_cmd={name}_stop\n\n"
        f"{name}_start()\n{{\n{start}\n}}\n\n{name}_stop()\n{{\n{stop}\n}}\n\n"
        f"load_rc_config $name\nrun_rc_command \"$1\"\n"
    )


def messages(host, tag: str) -> list[str]:
    """The /var/log/messages lines of `tag`, without the syslog prefix."""
    out = []
    for line in host.read("/var/log/messages").splitlines():
        head, sep, rest = line.partition(f" {tag}: ")
        if sep:
            out.append(rest)
    return out


@pytest.fixture(scope="module")
def dom0():
    with simulated_dom0() as fleet:
        host = fleet.hosts["xen1"]
        for n in ("g1", "g2"):
            sh(host, f"zfs create -p -V 1G -o volmode=dev zroot/xen/{n}-disk0")
            host.write(f"/usr/local/etc/xen/{n}.cfg", guest_cfg(n))
        yield fleet


@pytest.fixture
def clean(dom0):
    """Leaves the Dom0 as the fixture made it: no test scripts, rc.conf, guests or sysctl."""
    host = dom0.hosts["xen1"]
    rc_conf = host.read("/etc/rc.conf")
    sysctl_conf = host.read("/etc/sysctl.conf")
    yield host
    host.run("rm -f /usr/local/etc/rc.d/t_*; xl destroy g1; xl destroy g2")
    host.write("/etc/rc.conf", rc_conf)
    host.write("/etc/sysctl.conf", sysctl_conf)
    host.run("sysctl kern.init_shutdown_timeout=120")


# -- /etc/rc at boot --------------------------------------------------------------------------------

def test_rc_runs_local_scripts_with_freebsds_path_so_bare_xl_is_not_found(dom0, clean):
    host = clean
    env_probe = 'echo "PATH=$PATH HOME=$HOME ARG=$1"; env | sort | grep -v "^PWD=\\|^OLDPWD=\\|^_="'
    host.write("/usr/local/etc/rc.d/t_bare", rc_script("t_bare", f"{env_probe}\nxl create /usr/local/etc/xen/g1.cfg"), 0o555)
    host.write("/usr/local/etc/rc.d/t_abs", rc_script("t_abs", f"{XL} create /usr/local/etc/xen/g2.cfg"), 0o555)
    host.write("/etc/rc.conf", host.read("/etc/rc.conf") + 't_bare_enable="YES"\nt_abs_enable="YES"\n')
    dom0.power_cycle("xen1")
    bare = messages(host, "t_bare")
    assert bare[0] == "PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/ ARG=faststart"
    # rc's environment is init's: only what rc exports (nothing of the supervisor's)
    assert bare[1:3] == ["HOME=/", "PATH=/sbin:/bin:/usr/sbin:/usr/bin"]
    assert bare[3].endswith("xl: not found"), bare
    assert bare[4] == "start failed (exit 127)"
    doms = host.domains()
    assert "g1" not in doms and "g2" in doms  # only the absolute path worked
    # the same script, run over SSH by hand (root's login PATH has /usr/local/sbin), works
    sh(host, "sh /usr/local/etc/rc.d/t_bare onestart")
    assert "g1" in host.domains()


def test_rc_skips_scripts_that_are_not_executable_or_have_no_provide(dom0, clean):
    host = clean
    host.write("/usr/local/etc/rc.d/t_noexec", rc_script("t_noexec", "echo ran"), 0o644)
    host.write("/usr/local/etc/rc.d/t_noprov", rc_script("t_noprov", "echo ran").replace("# PROVIDE: t_noprov\n", ""), 0o555)
    host.write("/usr/local/etc/rc.d/t_nostart", rc_script("t_nostart", "echo ran", keyword="nostart"), 0o555)
    host.write("/usr/local/etc/rc.d/t_yes", rc_script("t_yes", "echo ran"), 0o555)
    host.write("/etc/rc.conf", host.read("/etc/rc.conf")
               + "".join(f't_{n}_enable="YES"\n' for n in ("noexec", "noprov", "nostart", "yes")))
    dom0.power_cycle("xen1")
    assert messages(host, "t_yes") == ["ran"]
    assert messages(host, "t_noexec") == messages(host, "t_noprov") == messages(host, "t_nostart") == []


def test_rc_starts_scripts_in_rcorder(dom0, clean):
    host = clean
    host.write("/usr/local/etc/rc.d/t_b", rc_script("t_b", "echo b >> /tmp/t_order").replace(
        "# REQUIRE: xencommons", "# REQUIRE: t_a"), 0o555)
    host.write("/usr/local/etc/rc.d/t_a", rc_script("t_a", "echo a >> /tmp/t_order"), 0o555)
    host.write("/etc/rc.conf", host.read("/etc/rc.conf") + 't_a_enable="YES"\nt_b_enable="YES"\n')
    host.run("rm -f /tmp/t_order")
    dom0.power_cycle("xen1")
    assert host.read("/tmp/t_order") == "a\nb\n"


# -- service(8) -----------------------------------------------------------------------------------

def test_service_runs_scripts_with_a_clean_environment(dom0, clean):
    host = clean
    probe = 'echo "PATH=$PATH HOME=$HOME PWD=$(pwd) FOO=$FOO"; xl list >/dev/null'
    host.write("/usr/local/etc/rc.d/t_svc", rc_script("t_svc", probe), 0o555)
    res = sh(host, "cd /tmp && FOO=bar service t_svc onestart", rc=127)
    assert res.stdout == "PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/ PWD=/ FOO=\n"
    assert res.stderr.endswith("xl: not found\n")
    # not executable: service refuses it, on stdout, as service.sh does
    host.write("/usr/local/etc/rc.d/t_svc", rc_script("t_svc", probe), 0o644)
    res = sh(host, "service t_svc onestart", rc=1)
    assert res.stdout == ("t_svc does not exist in /etc/rc.d or the local startup\n"
                          "directories (/usr/local/etc/rc.d), or is not executable\n")
    assert res.stderr == ""
    # one argument only: usage, exit 1
    res = sh(host, "service t_svc", rc=1)
    assert "<rc.d script> start|stop|etc." in res.stdout


# -- rc.shutdown, reboot(8) and shutdown(8) -----------------------------------------------------------

def stopper(host, name: str, guest: str, wait: str = "") -> None:
    """An rc.d script whose stop shuts `guest` down the way a xendomains would, with
    the bare `xl` (rc.shutdown's PATH has /usr/local/sbin)."""
    host.write(f"/usr/local/etc/rc.d/{name}", rc_script(
        name, f"{XL} create /usr/local/etc/xen/{guest}.cfg",
        f'echo "stop {guest} PATH=$PATH"\n{wait}xl shutdown -w {guest} >/dev/null 2>&1\necho "{guest} stopped"'), 0o555)
    host.write("/etc/rc.conf", host.read("/etc/rc.conf") + f'{name}_enable="YES"\n')


def test_shutdown_r_runs_rc_shutdown_in_reverse_order_with_its_path(dom0, clean):
    host = clean
    stopper(host, "t_one", "g1")
    stopper(host, "t_two", "g2")
    host.write("/usr/local/etc/rc.d/t_two", host.read("/usr/local/etc/rc.d/t_two").replace(
        "# REQUIRE: xencommons", "# REQUIRE: t_one"), 0o555)
    sh(host, "service t_one start; service t_two start")
    boots = host.sim_state()["boot_count"]
    res = sh(host, "shutdown -r now")
    assert res.stdout == "Shutdown NOW!\n"
    assert re.fullmatch(r"shutdown: \[pid \d+\]\n", res.stderr)  # it forked; the parent returns
    dom0.wait_for_boot("xen1", boots)
    log = host.read("/.sim/state/rc.shutdown.log")
    assert log.splitlines() == [
        "stop g2 PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin", "g2 stopped",
        "stop g1 PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin", "g1 stopped", "."]
    assert host.sim_state()["last_power_via"] == "shutdown(8)"


def test_reboot_skips_rc_shutdown_and_guests_lose_power(dom0, clean):
    host = clean
    stopper(host, "t_one", "g1")
    sh(host, "service t_one start")
    uuid = host.domains()["g1"]["uuid"]
    host.write("/.sim/state/rc.shutdown.log", "stale\n")
    boots = host.sim_state()["boot_count"]
    assert sh(host, "reboot").stdout == ""
    dom0.wait_for_boot("xen1", boots)
    assert host.read("/.sim/state/rc.shutdown.log") == ""  # rc.shutdown never ran
    assert host.sim_state()["last_power_via"] == "reboot(8)"
    assert "rebooted by root" in messages(host, "reboot")
    # the guest was not shut down: it died with the power, and rc started a new one
    assert host.domains()["g1"]["uuid"] != uuid


def test_poweroff_paths(dom0, clean):
    host = clean
    stopper(host, "t_one", "g1")
    sh(host, "service t_one start")
    sh(host, "shutdown -p now")
    deadline = time.monotonic() + 15
    while not host.sim_state()["powered_off"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert host.sim_state()["powered_off"] and "g1 stopped" in host.read("/.sim/state/rc.shutdown.log")
    dom0.power_on("xen1")
    sh(host, "reboot -p")
    deadline = time.monotonic() + 15
    while not host.sim_state()["powered_off"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert host.sim_state()["powered_off"] and host.sim_state()["last_power_via"] == "reboot(8)"
    assert host.read("/.sim/state/rc.shutdown.log") == ""
    dom0.power_on("xen1")


# -- init's kern.init_shutdown_timeout ---------------------------------------------------------------

def slow_stopper(host, name: str) -> None:
    host.write(f"/usr/local/etc/rc.d/{name}", rc_script(
        name, ":", f'echo "{name} stopping"\nsleep 30\necho "{name} done"'), 0o555)
    host.write("/etc/rc.conf", host.read("/etc/rc.conf") + f'{name}_enable="YES"\n')


def test_init_s_timeout_terminates_the_stopping_script_too(dom0, clean):
    # init.c runshutdown(): at the timeout waitpid() fails with EINTR and init calls
    # kill(wpid, SIGTERM) with wpid == -1, so every process gets SIGTERM at once, not only
    # rc.shutdown (the script that was cut never goes on after its sleep).
    host = clean
    host.write("/usr/local/etc/rc.d/t_trap", rc_script(
        "t_trap", ":", "trap 'echo \"t_trap got TERM\"; exit 143' TERM\n"
                       "echo \"t_trap stopping\"\nsleep 30\necho \"t_trap done\""), 0o555)
    host.write("/etc/rc.conf", host.read("/etc/rc.conf") + 't_trap_enable="YES"\n')
    sh(host, "sysctl kern.init_shutdown_timeout=2")
    dom0.power_cycle("xen1")
    log = host.read("/.sim/state/rc.shutdown.log").splitlines()
    # (its shell may also say that its sleep was terminated)
    assert "t_trap stopping" in log and "t_trap got TERM" in log and "t_trap done" not in log, log
    assert ("init: timeout expired for /etc/rc.shutdown: Interrupted system call; going to single user mode"
            in log), log


def test_init_shutdown_timeout_is_a_read_write_sysctl_default_120(dom0, clean):
    host = clean
    assert sh(host, "sysctl kern.init_shutdown_timeout").stdout == "kern.init_shutdown_timeout: 120\n"
    assert sh(host, "sysctl kern.init_shutdown_timeout=300").stdout == "kern.init_shutdown_timeout: 120 -> 300\n"
    assert sh(host, "sysctl -n kern.init_shutdown_timeout").stdout == "300\n"


def test_init_cuts_rc_shutdown_whatever_rcshutdown_timeout_says(dom0, clean):
    host = clean
    slow_stopper(host, "t_slow")
    host.write("/etc/rc.conf", host.read("/etc/rc.conf") + 'rcshutdown_timeout="90"\n')
    sh(host, "sysctl kern.init_shutdown_timeout=2")  # live, as an admin would
    t = time.monotonic()
    dom0.power_cycle("xen1")
    took = time.monotonic() - t
    assert 2 <= took < 6, took
    log = host.read("/.sim/state/rc.shutdown.log")
    assert log == ("t_slow stopping\ninit: timeout expired for /etc/rc.shutdown: "
                   "Interrupted system call; going to single user mode\n")
    assert any("timeout expired for /etc/rc.shutdown" in m for m in messages(host, "init"))
    # the live value is gone with the reboot: back to 120 unless sysctl.conf says otherwise
    assert sh(host, "sysctl -n kern.init_shutdown_timeout").stdout == "120\n"


def test_init_shutdown_timeout_from_sysctl_conf_and_the_smaller_timeout_wins(dom0, clean):
    host = clean
    slow_stopper(host, "t_slow")
    host.write("/etc/sysctl.conf", host.read("/etc/sysctl.conf") + "kern.init_shutdown_timeout=3\n")
    host.write("/etc/rc.conf", host.read("/etc/rc.conf") + 'rcshutdown_timeout="1"\n')
    dom0.power_cycle("xen1")  # applies sysctl.conf at boot
    assert sh(host, "sysctl -n kern.init_shutdown_timeout").stdout == "3\n"
    t = time.monotonic()
    dom0.power_cycle("xen1")
    took = time.monotonic() - t
    assert took < 3, took  # rc.shutdown's own watchdog (1 s) came first
    assert "1 second watchdog timeout expired. Shutdown terminated." in host.read("/.sim/state/rc.shutdown.log")
    assert "init: timeout expired" not in host.read("/.sim/state/rc.shutdown.log")
    # with the watchdog above init's timeout, init's wins
    host.write("/etc/rc.conf", host.read("/etc/rc.conf").replace('rcshutdown_timeout="1"', 'rcshutdown_timeout="20"'))
    t = time.monotonic()
    dom0.power_cycle("xen1")
    took = time.monotonic() - t
    assert 3 <= took < 8, took
    assert "init: timeout expired for /etc/rc.shutdown" in host.read("/.sim/state/rc.shutdown.log")


def test_init_shutdown_timeout_below_two_means_120(dom0, clean):
    host = clean
    slow_stopper(host, "t_slow")
    host.write("/etc/rc.conf", host.read("/etc/rc.conf") + 'rcshutdown_timeout="3"\n')
    sh(host, "sysctl kern.init_shutdown_timeout=1")
    t = time.monotonic()
    dom0.power_cycle("xen1")
    took = time.monotonic() - t
    assert took >= 3, took  # not cut after 1 s: init took 120, the 3 s watchdog cut it
    assert "3 second watchdog timeout expired" in host.read("/.sim/state/rc.shutdown.log")


def test_a_guest_still_running_when_init_cuts_rc_shutdown_loses_power(dom0, clean):
    host = clean
    stopper(host, "t_one", "g1", wait="sleep 30\n")
    sh(host, "service t_one start")
    uuid = host.domains()["g1"]["uuid"]
    sh(host, "sysctl kern.init_shutdown_timeout=2")
    dom0.power_cycle("xen1")
    log = host.read("/.sim/state/rc.shutdown.log")
    assert "g1 stopped" not in log and "init: timeout expired" in log
    # and the script's leftover `xl shutdown -w` did not survive into the next boot
    time.sleep(0.5)
    assert host.domains()["g1"]["uuid"] != uuid
    assert "shutdown_at_ms" not in host.domains()["g1"]


def test_init_shutdown_timeout_in_loader_conf_has_no_effect(dom0, clean):
    host = clean
    loader = host.read("/boot/loader.conf")
    try:
        # a read-write sysctl, not a loader tunable: loader.conf does not set it
        host.write("/boot/loader.conf", loader + 'kern.init_shutdown_timeout="300"\n')
        dom0.power_cycle("xen1")
        assert sh(host, "sysctl -n kern.init_shutdown_timeout").stdout == "120\n"
    finally:
        host.write("/boot/loader.conf", loader)
