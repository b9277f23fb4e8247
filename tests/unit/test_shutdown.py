"""
operations.guests.shutdown_command, run by a real /bin/sh against a fake xl
that behaves as xl(1) says: ``xl shutdown -w`` returns when the domain has shut
down, and the domain is still listed (so ``xl create`` says "already exists")
until it is gone a few polls later. The command must return only once the
domain is gone, bounded by the timeout, and destroy a guest that ignores the
request.
"""

from __future__ import annotations

import os
import shlex
import time
import subprocess
from pathlib import Path

import pytest

from operations import guests
from spec.guest import GuestSpec

FAKE_XL = r"""#!/bin/sh
# A domain is the directory $XLSIM/<name>. After a shutdown request it stays
# listed for $XLSIM/<name>/linger more `xl list` polls, then it is gone.
echo "xl $*" >> "$XLSIM/log"
cmd=$1; shift
# every subcommand here takes exactly one domain: a name split in two is refused
one_domain() { [ $# -eq 1 ] || { echo "Usage: xl $cmd [options] <Domain>" >&2; exit 2; }; }
case $cmd in
list)
	if [ $# -eq 0 ]; then
		echo "Name                                        ID   Mem VCPUs	State	Time(s)"
		echo "Domain-0                                     0  4096     2     r-----      10.0"
		for d in "$XLSIM"/*/; do [ -d "$d" ] && echo "$(basename "$d")  3 1024 2 -b---- 5.0"; done
		exit 0
	fi
	one_domain "$@"
	d="$XLSIM/$1"
	[ -d "$d" ] || { echo "$1 is an invalid domain identifier (rc=-6)" >&2; exit 1; }
	if [ -f "$d/linger" ]; then
		left=$(cat "$d/linger")
		if [ "$left" -le 0 ]; then rm -rf "$d"; echo "$1 is an invalid domain identifier (rc=-6)" >&2; exit 1; fi
		echo $((left - 1)) > "$d/linger"
	fi
	echo "$1 3 1024 2 -b---- 5.0" ;;
shutdown)
	wait= force=
	while getopts wF opt; do case $opt in w) wait=1 ;; F) force=1 ;; esac; done
	shift $((OPTIND - 1))
	one_domain "$@"
	d="$XLSIM/$1"
	[ -d "$d" ] || { echo "$1 is an invalid domain identifier (rc=-6)" >&2; exit 1; }
	if [ -f "$d/no_pv_drivers" ] && [ -z "$force" ]; then
		echo "PV control interface not available: external graceful shutdown not possible." >&2; exit 1
	fi
	[ -f "$d/ignores_shutdown" ] && { [ -n "$wait" ] && exec sleep 3600; exit 0; }
	echo 2 > "$d/linger"   # shut down, not yet gone: what one -w waits for
	exit 0 ;;
destroy)
	one_domain "$@"
	d="$XLSIM/$1"
	[ -d "$d" ] || exit 1
	[ -f "$d/survives_destroy" ] && exit 0
	echo 1 > "$d/linger" ;;
create)
	name=$(basename "$1" .cfg)
	[ -d "$XLSIM/$name" ] && { echo "libxl: error: Domain with name \"$name\" already exists." >&2; exit 3; }
	mkdir "$XLSIM/$name" ;;
esac
"""

FAKE_SLEEP = """#!/bin/sh
echo "sleep $*" >> "$XLSIM/log"
"""

FAKE_TIMEOUT = """#!/bin/sh
shift
exec "$@"
"""


def guest(**changes) -> GuestSpec:
    data = {"name": "freebsd", "memory": 1024, "vcpus": 2, "type": "hvm"}
    data.update(changes)
    return GuestSpec(**data)


@pytest.fixture
def xl(tmp_path):
    """A directory of fake xl/sleep/timeout, and a runner for commands against it."""

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("xl", FAKE_XL), ("sleep", FAKE_SLEEP), ("timeout", FAKE_TIMEOUT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    state = tmp_path / "domains"
    state.mkdir()
    env = dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin", XLSIM=str(state))

    class Xl:
        def __init__(self):
            self.state = state

        def domain(self, name: str, *flags: str) -> None:
            (state / name).mkdir()
            for flag in flags:
                (state / name / flag).write_text("1")

        def run(self, command: str) -> subprocess.CompletedProcess:
            return subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True, timeout=20)

        def log(self) -> list[str]:
            return (state / "log").read_text().splitlines() if (state / "log").exists() else []

        def exists(self, name: str) -> bool:
            return (state / name).is_dir()

    return Xl()


def test_returns_only_when_the_domain_is_gone_so_create_does_not_race(xl):
    xl.domain("freebsd")
    stopped = xl.run(guests.shutdown_command(guest(), 120))
    assert stopped.returncode == 0, stopped.stderr
    assert not xl.exists("freebsd")
    created = xl.run(guests.create_command(guest()))
    assert created.returncode == 0, created.stderr
    log = xl.log()
    assert log[0] == "xl shutdown -F freebsd"
    assert "xl destroy freebsd" not in log  # it shut down gracefully


def test_a_guest_that_ignores_the_request_is_destroyed_at_the_timeout(xl):
    xl.domain("freebsd", "ignores_shutdown")
    stopped = xl.run(guests.shutdown_command(guest(), 3))
    assert stopped.returncode == 0, stopped.stderr
    assert not xl.exists("freebsd")
    log = xl.log()
    # three one-second polls (the timeout), then destroy, then waited until gone
    assert log[: log.index("xl destroy freebsd")].count("sleep 1") == 3
    assert "guest freebsd did not shut down within 3s: destroying it" in stopped.stderr


def test_no_pv_drivers_and_no_acpi_fallback_goes_straight_to_destroy(xl):
    # A pv/pvh guest gets no -F; if it cannot take the request, waiting is pointless.
    xl.domain("freebsd", "no_pv_drivers")
    stopped = xl.run(guests.shutdown_command(guest(type="pvh"), 120))
    assert stopped.returncode == 0, stopped.stderr
    log = xl.log()
    assert log[0] == "xl shutdown freebsd"
    assert "sleep 1" not in log[: log.index("xl destroy freebsd")]
    assert not xl.exists("freebsd")


def test_a_domain_that_survives_destroy_fails_the_command_naming_it(xl):
    xl.domain("freebsd", "ignores_shutdown", "survives_destroy")
    stopped = xl.run(guests.shutdown_command(guest(), 1) + " && xl create /usr/local/etc/xen/freebsd.cfg")
    assert stopped.returncode != 0
    assert "guest freebsd is still there" in stopped.stderr
    assert "xl create /usr/local/etc/xen/freebsd.cfg" not in xl.log()


def test_an_absent_domain_is_fine(xl):
    assert xl.run(guests.shutdown_command(guest(), 5)).returncode == 0


@pytest.mark.parametrize("timeout", [1, 3600])
def test_the_wait_is_bounded_by_the_timeout(timeout):
    command = guests.shutdown_command(guest(), timeout)
    assert f"[ $n -lt {timeout} ]" in command
    assert f"[ $n -lt {guests.DESTROY_WAIT_SECONDS} ]" in command
    assert subprocess.run(["/bin/sh", "-n", "-c", command]).returncode == 0


def test_the_name_is_one_word_whatever_it_holds(xl):
    # Validation refuses such names; the command builder quotes them anyway.
    hostile = GuestSpec.model_construct(**{**guest().model_dump(), "name": "a b;touch pwned'$(x)"})
    xl.domain("a b;touch pwned'$(x)")
    stopped = xl.run(guests.shutdown_command(hostile, 5))
    assert stopped.returncode == 0, stopped.stderr
    assert xl.log()[0] == "xl shutdown -F a b;touch pwned'$(x)"  # one argument: the fake xl refuses more
    assert not xl.exists("a b;touch pwned'$(x)")
    assert not Path("pwned").exists()
    words = shlex.split(guests.shutdown_command(hostile, 5))
    assert "a b;touch pwned'$(x)" in words


# The xendomains rc.d script --------------------------------------------------------------

# What /etc/rc and service(8) give rc.d scripts (FreeBSD's /etc/rc: PATH=/sbin:/bin:/usr/sbin:/usr/bin).
RC_PATH = "/sbin:/bin:/usr/sbin:/usr/bin"

FAKE_RC_SUBR = r"""
checkyesno() { eval "v=\$$1"; case $v in [Yy][Ee][Ss]) return 0 ;; esac; return 1; }
load_rc_config() { . "$RC_CONF"; }
run_rc_command() {
	checkyesno "$rcvar" || return 0
	case $1 in start|faststart) $start_cmd ;; stop|faststop) $stop_cmd ;; status) $status_cmd ;; esac
}
"""


@pytest.fixture
def rc(tmp_path, xl):
    """Run the product's xendomains script as rc does, with xl installed where the packages put it."""

    fake_xl = tmp_path / "bin" / "xl"
    (tmp_path / "rc.subr").write_text(FAKE_RC_SUBR)
    script = guests.autostart_script()
    assert "\n. /etc/rc.subr\n" in script
    script = script.replace("/etc/rc.subr", str(tmp_path / "rc.subr")).replace("/usr/local/sbin/xl", str(fake_xl))
    (tmp_path / "xendomains").write_text(script)

    def run(action: str, timeout: int = 120, listed: str = "") -> subprocess.CompletedProcess:
        (tmp_path / "rc.conf").write_text(
            f'xendomains_enable="YES"\nxendomains_list="{listed}"\nxendomains_timeout="{timeout}"\n',
        )
        env = {"PATH": RC_PATH, "HOME": "/", "RC_CONF": str(tmp_path / "rc.conf"), "XLSIM": str(xl.state)}
        return subprocess.run(["/bin/sh", str(tmp_path / "xendomains"), action], env=env, capture_output=True,
                              text=True, timeout=60)

    return run


def test_boot_starts_the_listed_guests_in_order_under_rcs_path(rc, xl):
    xl.domain("db")  # already running: not started twice
    started = rc("start", listed="web db cache")
    assert started.returncode == 0, started.stderr
    assert "not found" not in started.stderr
    creates = [line for line in xl.log() if line.startswith("xl create")]
    assert creates == ["xl create /usr/local/etc/xen/web.cfg", "xl create /usr/local/etc/xen/cache.cfg"]
    assert xl.exists("web") and xl.exists("cache")


def test_shutdown_stops_every_guest_cleanly_listed_ones_in_reverse_order(rc, xl):
    for name in ("web", "db", "scratch"):  # scratch runs but is not autostarted
        xl.domain(name)
    stopped = rc("stop", listed="db web")
    assert stopped.returncode == 0, stopped.stderr
    requests = [line for line in xl.log() if line.startswith("xl shutdown")]
    assert requests == ["xl shutdown -F web", "xl shutdown -F db", "xl shutdown -F scratch"]
    assert not any(line.startswith("xl destroy") for line in xl.log())
    assert not (xl.exists("web") or xl.exists("db") or xl.exists("scratch"))


def test_one_hung_guest_costs_the_others_nothing_and_the_stop_is_bounded(rc, xl):
    xl.domain("db")
    for name in ("web", "api", "cache"):
        xl.domain(name, "ignores_shutdown")
    began = time.monotonic()
    stopped = rc("stop", timeout=3, listed="db web api cache")
    took = time.monotonic() - began
    assert stopped.returncode == 0, stopped.stderr
    # the hung guests were waited for together, not one timeout each
    assert 3 <= took < 3 + 3, took
    log = xl.log()
    assert "xl destroy db" not in log  # db shut down on its own, in time
    assert sorted(line for line in log if line.startswith("xl destroy")) == [
        "xl destroy api", "xl destroy cache", "xl destroy web",
    ]
    assert "web did not shut down within 3s, destroying it" in stopped.stderr
    assert not any(xl.exists(name) for name in ("db", "web", "api", "cache"))


def test_the_script_and_the_deploy_agree_on_the_destroy_wait():
    assert f"\nDESTROY_WAIT={guests.XENDOMAINS_DESTROY_WAIT}\n" in guests.autostart_script()
