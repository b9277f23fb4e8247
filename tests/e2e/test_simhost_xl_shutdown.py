"""
`xl shutdown`, `xl list NAME`, `xl domid NAME` and the life of a domain after its OS
has shut down, on the simulated Dom0, held to xen-project/xen's sources:

- tools/xl/xl_vmcontrol.c wait_for_domain_deaths(): `-w` returns at the first
  DOMAIN_SHUTDOWN ("Domain N has been shut down, reason code 0") or DOMAIN_DEATH
  ("Domain N has been destroyed"); from Xen 4.14 (Jason Andryuk, "xl: Allow shutdown
  wait for domain death", release-acked for 4.14) `-w -w` waits for death only ("Domain N
  continue waiting for death"); before 4.14 a second -w changes nothing.
- The shut-down domain still exists ("--ps--": paused by the xl daemon that created it,
  which is destroying it, on_poweroff="destroy"; "---s--" with "preserve"); meanwhile
  libxl__domain_rename refuses its name ('Domain with name "X" already exists.') and its
  volumes are busy for zfs.
- tools/xl/xl_info.c main_list / main_domid, xl_utils.c find_domain, libxl_utils.c
  libxl_domain_qualifier_to_domid: the messages and exit codes.

Each test drives the simulated host directly (no product code).
"""

from __future__ import annotations

import time

import pytest

from tests.simdom0 import make_xen_dom0, sh, simulated_dom0

pytestmark = pytest.mark.e2e



def new_guest(host, name: str, *, hvm: bool = False, extra: str = "") -> str:
    sh(host, f"zfs create -p -V 1G -o volmode=dev zroot/xen/{name}-disk0")
    path = f"/usr/local/etc/xen/{name}.cfg"
    kind = 'type = "hvm"\nboot = "c"\n' if hvm else 'type = "pvh"\n'
    host.write(path, f'name = "{name}"\n{kind}memory = 256\nvcpus = 1\n'
               f"disk = [ 'format=raw, vdev={'hda' if hvm else 'xvda'}, access=rw, "
               f"target=/dev/zvol/zroot/xen/{name}-disk0' ]\nvif = [ 'bridge=bridge0' ]\n{extra}")
    return path


def state_of(host, name: str) -> str:
    lines = sh(host, f"xl list {name}").stdout.splitlines()
    assert len(lines) == 2
    return lines[1].split()[4]


def gone(host, name: str, timeout: float = 10) -> float:
    """Seconds until `xl list NAME` says the domain does not exist."""
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if host.run(f"xl list {name}").returncode == 1:
            return time.monotonic() - t
        time.sleep(0.05)
    raise AssertionError(f"{name} still exists after {timeout}s")


@pytest.fixture(scope="module")
def dom0():
    with simulated_dom0() as fleet:
        yield fleet


@pytest.fixture
def host(dom0):
    host = dom0.hosts["xen1"]
    yield host
    host.run("for d in $(xl list | awk 'NR > 2 { print $1 }'); do xl destroy $d; done; "
             "zfs destroy -r zroot/xen; rm -rf /usr/local/etc/xen/*.cfg /.sim/xen/guests /.sim/xen/linger_ms "
             "/.sim/xen/shutdown_ms")


# -- -w: returns when the domain has SHUT DOWN; it lingers until its xl daemon destroys it -------------

def test_w_returns_at_shutdown_and_the_domain_lingers(dom0, host):
    cfg = new_guest(host, "web")
    sh(host, f"xl create {cfg}")
    id = sh(host, "xl domid web").stdout.strip()
    dom0.guest_behaviour("xen1", "web", "pv", shutdown_seconds=0.5, linger_seconds=3)
    t = time.monotonic()
    res = sh(host, "xl shutdown -w web")
    took = time.monotonic() - t
    assert 0.4 < took < 2.5, took
    assert res.stderr == (f"Shutting down domain {id}\nWaiting for 1 domains\n"
                          f"Domain {id} has been shut down, reason code 0\n")
    # shut down, not gone: listed with "s", its name, memory and disk still taken
    assert state_of(host, "web") == "--ps--"  # paused: its xl daemon is destroying it
    assert sh(host, "xl domid web").stdout == f"{id}\n"
    assert host.domains()["web"]["state"] == "--ps--"
    res = sh(host, f"xl create {cfg}", rc=3)
    next_id = int(id) + 1
    assert res.stderr.splitlines()[1:] == [
        f'libxl: error: libxl_domain.c:81:libxl__domain_rename: Domain {next_id}:Domain with name "web" already exists.',
        f"libxl: error: libxl_create.c:1331:initiate_domain_create: Domain {next_id}:cannot make domain: -6",
        # libxl's own destroy of the pvh domain whose /libxl/N/type the failed rename never wrote
        f"libxl: error: libxl_xshelp.c:206:libxl__xs_read_mandatory: xenstore read failed: `/libxl/{next_id}/type': "
        "No such file or directory",
        f"libxl: warning: libxl_dom.c:50:libxl__domain_type: unable to get domain type for domid={next_id}, assuming HVM",
        f"libxl: error: libxl_domain.c:1179:libxl__destroy_domid: Domain {next_id}:Non-existant domain",
        f"libxl: error: libxl_domain.c:1133:domain_destroy_callback: Domain {next_id}:Unable to destroy guest",
        f"libxl: error: libxl_domain.c:1060:domain_destroy_cb: Domain {next_id}:Destruction of domain failed",
    ], res.stderr
    assert sh(host, "zfs destroy zroot/xen/web-disk0", rc=1).stderr == "cannot destroy 'zroot/xen/web-disk0': dataset is busy\n"
    # then the daemon destroys it, with nobody running xl meanwhile
    time.sleep(3.2 - (time.monotonic() - t - took))
    assert "web" not in host.domains()
    sh(host, "zfs destroy zroot/xen/web-disk0")
    assert sh(host, "xl list web", rc=1).stderr == "web is an invalid domain identifier (rc=-6)\n"
    assert sh(host, "xl domid web", rc=1).stderr == "Can't get domid of domain name 'web', maybe this domain does not exist.\n"


def test_default_linger_is_short_and_per_host(dom0, host):
    cfg = new_guest(host, "db")
    sh(host, f"xl create {cfg}")
    dom0.set_xen_timing("xen1", shutdown_seconds=0.2)
    sh(host, "xl shutdown -w db")
    assert state_of(host, "db") == "--ps--"  # the default linger (0.3 s) is not zero
    assert gone(host, "db") < 1
    sh(host, f"xl create {cfg}")  # the name is free again
    dom0.set_xen_timing("xen1", linger_seconds=1.5)
    sh(host, "xl shutdown -w db")
    time.sleep(0.8)
    assert state_of(host, "db") == "--ps--"
    assert 0.3 < gone(host, "db") < 1.5


def test_w_w_waits_until_the_domain_is_destroyed(dom0, host):
    cfg = new_guest(host, "app")
    sh(host, f"xl create {cfg}")
    id = sh(host, "xl domid app").stdout.strip()
    dom0.guest_behaviour("xen1", "app", shutdown_seconds=0.3, linger_seconds=1.5)
    t = time.monotonic()
    res = sh(host, "xl shutdown -w -w app")
    assert time.monotonic() - t >= 1.8
    assert res.stderr == (f"Shutting down domain {id}\nWaiting for 1 domains\n"
                          f"Domain {id} has been shut down, reason code 0\n"
                          f"Domain {id} continue waiting for death\n"
                          f"Domain {id} has been destroyed\n")
    sh(host, "xl list app", rc=1)
    sh(host, f"xl create {cfg}")  # at once: the name is free
    sh(host, "xl shutdown --wait --wait app")  # the long option counts the same
    sh(host, "xl list app", rc=1)


def test_w_returns_at_death_when_the_domain_is_destroyed_first(dom0, host):
    cfg = new_guest(host, "slow")
    sh(host, f"xl create {cfg}")
    id = sh(host, "xl domid slow").stdout.strip()
    dom0.guest_behaviour("xen1", "slow", "unresponsive")
    import threading
    result = {}
    th = threading.Thread(target=lambda: result.update(res=host.run("xl shutdown -w slow", timeout=30)))
    th.start()
    time.sleep(0.5)
    sh(host, "xl destroy slow")
    th.join(10)
    assert result["res"].returncode == 0
    assert result["res"].stderr.endswith(f"Waiting for 1 domains\nDomain {id} has been destroyed\n")


def test_w_w_on_xen_before_4_14_is_one_w(sim_fleet):
    fleet = sim_fleet(("xen1", "freebsd14"))
    host = fleet.hosts["xen1"]
    make_xen_dom0(host, "xen-kernel411 xen-tools411")
    fleet.power_cycle("xen1")
    assert host.sim_state()["xen_version"] == "4.11.4"
    cfg = new_guest(host, "old")
    sh(host, f"xl create {cfg}")
    id = sh(host, "xl domid old").stdout.strip()
    fleet.guest_behaviour("xen1", "old", shutdown_seconds=0.3, linger_seconds=2)
    res = sh(host, "xl shutdown -w -w old")
    assert res.stderr.endswith(f"Domain {id} has been shut down, reason code 0\n")
    assert state_of(host, "old") == "--ps--"  # 4.11 returned before the domain was gone


# -- each guest's behaviour --------------------------------------------------------------------------

def test_acpi_only_guest_needs_F(dom0, host):
    cfg = new_guest(host, "win", hvm=True)
    sh(host, f"xl create {cfg}")
    id = sh(host, "xl domid win").stdout.strip()
    dom0.guest_behaviour("xen1", "win", "acpi", shutdown_seconds=0.2)
    res = sh(host, "xl shutdown -w win", rc=1)
    assert res.stderr == (f"Shutting down domain {id}\n"
                          "PV control interface not available: external graceful shutdown not possible.\n"
                          'Use "-F" to fallback to ACPI power event.\nshutdown failed (rc=-10)\n')
    assert state_of(host, "win") == "-b----"
    res = sh(host, "xl shutdown -w -F win")
    assert "PV control interface not available: sending ACPI power button event.\n" in res.stderr
    assert res.stderr.endswith(f"Domain {id} has been shut down, reason code 0\n")


def test_pv_guest_obeys_without_F(dom0, host):
    cfg = new_guest(host, "lin", hvm=True)
    sh(host, f"xl create {cfg}")
    dom0.guest_behaviour("xen1", "lin", "pv", shutdown_seconds=0.2)
    res = sh(host, "xl shutdown -w lin")
    assert "PV control interface" not in res.stderr


def test_unresponsive_guest_only_dies_by_destroy(dom0, host):
    cfg = new_guest(host, "hung")
    dom0.guest_behaviour("xen1", "hung", "unresponsive")  # before it exists: by name
    sh(host, f"xl create {cfg}")
    res = sh(host, "timeout 2 xl shutdown -w hung", rc=None)
    assert res.returncode != 0  # timeout(1) had to cut the wait
    assert state_of(host, "hung") == "-b----"
    sh(host, "xl destroy hung")
    sh(host, "xl list hung", rc=1)
    sh(host, "zfs destroy zroot/xen/hung-disk0")  # no linger after destroy


def test_behaviour_follows_the_name_across_re_creation_and_reboot(dom0, host):
    cfg = new_guest(host, "keep")
    dom0.guest_behaviour("xen1", "keep", "unresponsive")
    dom0.power_cycle("xen1")
    sh(host, f"xl create {cfg}")
    sh(host, "timeout 1 xl shutdown -w keep", rc=None)
    assert state_of(host, "keep") == "-b----"
    dom0.guest_behaviour("xen1", "keep", "auto", shutdown_seconds=0.1)  # a running guest changes too
    sh(host, "xl shutdown -w keep")


def test_on_poweroff_preserve_lingers_until_destroyed(dom0, host):
    cfg = new_guest(host, "pres", extra='on_poweroff = "preserve"\n')
    sh(host, f"xl create {cfg}")
    dom0.guest_behaviour("xen1", "pres", shutdown_seconds=0.1, linger_seconds=0.1)
    sh(host, "xl shutdown -w pres")
    time.sleep(0.8)
    assert state_of(host, "pres") == "---s--"
    sh(host, "xl destroy pres")
    sh(host, "xl list pres", rc=1)


def test_bad_behaviour_is_refused(dom0):
    with pytest.raises(ValueError, match="behaviour must be one of"):
        dom0.guest_behaviour("xen1", "x", "sleepy")


# -- xl list NAME / xl domid NAME as xl_info.c has them ------------------------------------------------

def test_list_and_domid_messages(dom0, host):
    cfg = new_guest(host, "one")
    sh(host, f"xl create {cfg}")
    id = sh(host, "xl domid one").stdout.strip()
    assert sh(host, f"xl list {id}").stdout.splitlines()[1].split()[0] == "one"  # a domid works too
    assert sh(host, "xl list 0").stdout.splitlines()[1].split()[0] == "Domain-0"
    assert sh(host, "xl list 999", rc=1).stderr == "Error: Domain '999' does not exist.\n"
    assert sh(host, "xl list nosuch", rc=1).stderr == "nosuch is an invalid domain identifier (rc=-6)\n"
    res = sh(host, "xl list one Domain-0", rc=1)  # one domain at most: help on stdout
    assert res.stdout.startswith("Usage: xl [-vtT] list [options] [Domain]\n") and res.stderr == ""
    assert sh(host, "xl domid Domain-0").stdout == "0\n"
    assert sh(host, f"xl domid {id}", rc=1).stderr == (
        f"Can't get domid of domain name '{id}', maybe this domain does not exist.\n")  # names only
    res = sh(host, "xl domid", rc=2)
    assert res.stderr == "'xl domid' requires at least 1 argument.\n\n"
    assert res.stdout == "Usage: xl [-vtT] domid <DomainName>\n\nConvert a domain name to domain id.\n\n"
    assert sh(host, "xl shutdown -x one", rc=2).stderr == "option `x' not supported.\n"


# -- the xl daemon's log and how each domain ended ----------------------------------------------------

def test_the_xl_daemon_logs_each_end_and_the_simulator_records_it(dom0, host):
    cfg = new_guest(host, "logd")
    dom0.guest_behaviour("xen1", "logd", shutdown_seconds=0.2, linger_seconds=0.2)
    before = len(host.domain_ends())
    # a clean shutdown
    sh(host, f"xl create {cfg}")
    id1 = sh(host, "xl domid logd").stdout.strip()
    sh(host, "xl shutdown -w -w logd")
    assert host.read("/var/log/xen/xl-logd.log") == (
        f"Waiting for domain logd (domid {id1}) to die [pid "
        + host.read("/var/log/xen/xl-logd.log").split("[pid ", 1)[1].split("]", 1)[0] + "]\n"
        f"Domain {id1} has shut down, reason code 0 0x0\n"
        "Action for shutdown reason code 0 is destroy\n"
        f"Domain {id1} needs to be cleaned up: destroying the domain\n"
        "Done. Exiting now\n")
    # a destroy: a new log, the old one rotated to .1
    sh(host, f"xl create {cfg}")
    id2 = sh(host, "xl domid logd").stdout.strip()
    sh(host, "xl destroy logd")
    assert host.read("/var/log/xen/xl-logd.log").endswith(f"Domain {id2} has been destroyed.\n")
    assert host.read("/var/log/xen/xl-logd.log.1").endswith("Done. Exiting now\n")
    # the Dom0's power goes: the daemon writes nothing more
    sh(host, f"xl create {cfg}")
    id3 = sh(host, "xl domid logd").stdout.strip()
    dom0.power_cycle("xen1", via="reboot(8)")
    assert host.read("/var/log/xen/xl-logd.log").splitlines() == [
        f"Waiting for domain logd (domid {id3}) to die [pid " + host.read("/var/log/xen/xl-logd.log").split("[pid ", 1)[1]
        .split("]", 1)[0] + "]"]
    ends = [(e["name"], e["domid"], e["how"]) for e in host.domain_ends()[before:]]
    assert ends == [("logd", int(id1), "shutdown"), ("logd", int(id2), "destroy"), ("logd", int(id3), "poweroff")]


def test_a_domain_is_cleaned_up_once_when_many_xl_commands_reap_it_at_once(dom0, host):
    # Every xl command plays the xl daemons' part (reap): when a lingering domain's time
    # is up, several of them racing must still destroy it once and log its end once.
    import threading

    cfg = new_guest(host, "race")
    dom0.guest_behaviour("xen1", "race", shutdown_seconds=0.1, linger_seconds=0.6)
    before = len(host.domain_ends())
    sh(host, f"xl create {cfg}")
    sh(host, "xl shutdown race")
    deadline = time.monotonic() + 2

    def reaper():
        while time.monotonic() < deadline:
            host.run("xl list")

    threads = [threading.Thread(target=reaper) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log = host.read("/var/log/xen/xl-race.log")
    assert log.count("needs to be cleaned up") == 1 and log.count("Done. Exiting now") == 1, log
    assert [e["how"] for e in host.domain_ends()[before:]] == ["shutdown"]


def test_xl_create_without_var_log_xen_fails_but_the_domain_runs(dom0, host):
    cfg = new_guest(host, "nolog")
    host.run("mv /var/log/xen /var/log/xen.away")
    try:
        res = sh(host, f"xl create {cfg}", rc=3)  # do_daemonize: child_report's ERROR_FAIL
        assert res.stderr.splitlines()[1:] == [
            "xl: fatal error: xl_utils.c:277: No such file or directory: "
            "logfile = open(fullname, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)",
            res.stderr.splitlines()[2],
        ]
        assert res.stderr.splitlines()[2].startswith("libxl: error: libxl_exec.c:117:libxl_report_child_exitstatus: "
                                                    "domain monitoring daemonizing child [")
        assert state_of(host, "nolog") == "-b----"  # created all the same
    finally:
        host.run("rm -rf /var/log/xen; mv /var/log/xen.away /var/log/xen")
