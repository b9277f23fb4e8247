"""
The plan, end to end over real SSH: what ``--dry`` (and the change summary
before a confirmed run) says per host in plain words, and that the real run then
does exactly that: for a live memory change, a change that awaits a restart, and
a Dom0 boot change that takes a reboot. ``--diff`` shows the lines of every file
the run would write, a guest's config with its password masked.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid

import pytest

from tests.e2e.deploy import PYINFRA, ROOT, Run, pyinfra
from tests.e2e.test_guests_lifecycle import CFG, ISO, ISO_URL, PASSWORD, handbook_guest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the simulated hosts are chroots served by sshd: needs root"),
]

DOM0 = {"xen_bridge_members": ["em0"]}  # the defaults: dom0_mem=8192M
ANSI = re.compile(r"\x1b\[[0-9;]*m")
PLAN_LINE = re.compile(r"^\s*\[(?P<host>[^\]]+)\]\s+plan: (?P<change>.*)$")


def run_cli(inventory, deploy, *args, answer=None) -> Run:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200")
    done = subprocess.run(
        [PYINFRA, *args, str(inventory), deploy], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env=env, input=answer,
    )
    return Run(done.returncode, ANSI.sub("", done.stdout + done.stderr))


def plan_of(run: Run) -> list[tuple[str, str]]:
    return [(m["host"], m["change"]) for m in map(PLAN_LINE.match, run.output.splitlines()) if m]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    from simhost.fleet import Fleet

    fleet = Fleet(f"/var/lib/freebsd-xen-sim/plan-{uuid.uuid4().hex[:8]}")
    fleet.add("xen1", "freebsd14")
    fleet.mirror_add(ISO_URL, ISO)
    fleet.start()
    inventory = tmp_path_factory.mktemp("inventory") / "inventory.py"
    fleet.write_inventory(inventory, {"xen1": DOM0})
    run = pyinfra(inventory, "deploys/dom0.py")
    assert run.returncode == 0, run.output[-3000:]
    fleet.write_inventory(inventory, {"xen1": {**DOM0, "xen_guests": [handbook_guest(installed=True)]}})
    run = pyinfra(inventory, "deploys/guests.py")
    assert run.returncode == 0, run.output[-3000:]
    yield fleet, inventory
    fleet.stop()


def dry_then_real(fleet, inventory, deploy, host_data):
    """The plan of --dry (nothing changes), then of the real run (-y: said as it executes)."""

    fleet.write_inventory(inventory, {"xen1": host_data})
    host = fleet.hosts["xen1"]

    def observed():
        state = host.sim_state()
        domains = {name: (d["domid"], d.get("mem_target"), d.get("vcpus_avail")) for name, d in state["domains"].items()}
        return host.read(CFG), host.read("/boot/loader.conf"), domains, state["boot_count"]

    before = observed()
    dry = run_cli(inventory, deploy, "--dry")
    assert dry.returncode == 0, dry.output[-3000:]
    assert observed() == before
    real = pyinfra(inventory, deploy)
    assert real.returncode == 0, real.output[-4000:]
    real = Run(real.returncode, ANSI.sub("", real.output))
    return plan_of(dry), plan_of(real), real


def test_1_a_live_memory_change(fleet):
    fleet_, inventory = fleet
    data = {**DOM0, "xen_guests": [handbook_guest(installed=True, memory=1536)]}
    dry, real, _ = dry_then_real(fleet_, inventory, "deploys/guests.py", data)
    assert ("xen1", "guest freebsd: memory 1024 -> 1536 MiB (live: xl mem-set)") in dry
    assert ("xen1", "guest freebsd: /usr/local/etc/xen/freebsd.cfg rewritten, mode 600") in dry
    assert real == dry
    # xl list shows the new memory once the guest has ballooned to it (until then
    # a run would plan the same xl mem-set again, as it would on real Xen)
    deadline = time.monotonic() + 30
    while fleet_.hosts["xen1"].sim_state()["domains"]["freebsd"]["memory"] != "1536":
        assert time.monotonic() < deadline, fleet_.hosts["xen1"].sim_state()["domains"]["freebsd"]
        time.sleep(0.5)


def test_2_a_change_that_awaits_a_restart(fleet):
    fleet_, inventory = fleet
    vifs = [{"bridge": "bridge0"}, {"bridge": "bridge0", "mac": "00:16:3e:00:00:22"}]
    data = {**DOM0, "xen_guests": [handbook_guest(installed=True, memory=1536, vifs=vifs)]}
    domid = fleet_.hosts["xen1"].sim_state()["domains"]["freebsd"]["domid"]
    dry, real, run = dry_then_real(fleet_, inventory, "deploys/guests.py", data)
    assert ("xen1", "guest freebsd: vif 1 added (bridge0, 00:16:3e:00:00:22) (config only: awaits a restart)") in dry
    assert real == dry
    assert "guest freebsd awaits a restart to apply: vif 1 added" in run.output
    assert fleet_.hosts["xen1"].sim_state()["domains"]["freebsd"]["domid"] == domid  # not restarted
    again = run_cli(inventory, "deploys/guests.py", "--dry")
    assert plan_of(again) == []  # said with the rewrite, not on every later run (the warning is)


def test_3_the_diff_of_every_file_a_run_writes_masks_the_password(fleet):
    fleet_, inventory = fleet
    vifs = [{"bridge": "bridge0"}, {"bridge": "bridge0", "mac": "00:16:3e:00:00:22"}]
    # a new password and listen address: the lines around the password change
    vnc = {"listen": "127.0.0.2", "password": "N3w-pw"}
    data = {**DOM0, "xen_guests": [handbook_guest(installed=True, memory=1200, vifs=vifs, vnc=vnc, autostart=False)]}
    fleet_.write_inventory(inventory, {"xen1": data})
    run = run_cli(inventory, "deploys/guests.py", "--dry", "--diff")
    assert run.returncode == 0, run.output[-3000:]
    assert "Will modify /usr/local/etc/xen/freebsd.cfg" in run.output
    assert re.search(r"- memory = 1536\n.*\+ memory = 1200", run.output, re.S), run.output[-3000:]
    assert re.search(r'- vnclisten = "127.0.0.1"\n\s*\+ vnclisten = "127.0.0.2"\n\s*vncpasswd = \*{8}\n', run.output), run.output
    assert PASSWORD not in run.output and "N3w-pw" not in run.output
    assert "Will modify /etc/rc.conf" in run.output and '+ xendomains_list=""' in run.output


def test_4_a_dom0_boot_change_takes_a_reboot(fleet):
    fleet_, inventory = fleet
    guest = handbook_guest(installed=True, memory=1536,
                           vifs=[{"bridge": "bridge0"}, {"bridge": "bridge0", "mac": "00:16:3e:00:00:22"}])
    data = {**DOM0, "xen_dom0_mem": "4096M", "xen_guests": [guest]}
    boots = fleet_.hosts["xen1"].sim_state()["boot_count"]
    diff = run_cli(inventory if fleet_.write_inventory(inventory, {"xen1": data}) is None else inventory,
                   "deploys/dom0.py", "--dry", "--diff")
    assert "Will modify /boot/loader.conf" in diff.output
    assert re.search(r'- xen_cmdline="dom0_mem=8192M .*\n.*\+ xen_cmdline="dom0_mem=4096M ', diff.output), diff.output[-3000:]
    dry, real, _ = dry_then_real(fleet_, inventory, "deploys/dom0.py", data)
    assert ("xen1", "loader.conf: xen_cmdline dom0_mem 8192M -> 4096M (takes a reboot)") in dry
    [reboot] = [change for _, change in dry if change.startswith("reboot: ")]
    assert reboot.startswith("reboot: yes (shutdown -r now), because xen_cmdline changed (dom0_mem 8192M -> 4096M)")
    assert "guest freebsd is shut down cleanly by xendomains; back by autostart" in reboot
    assert real == dry
    assert fleet_.hosts["xen1"].sim_state()["boot_count"] > boots


def test_5_the_plan_is_shown_before_a_confirmed_run_and_not_repeated(fleet):
    fleet_, inventory = fleet
    guest = handbook_guest(installed=True, memory=1024,
                           vifs=[{"bridge": "bridge0"}, {"bridge": "bridge0", "mac": "00:16:3e:00:00:22"}])
    fleet_.write_inventory(inventory, {"xen1": {**DOM0, "xen_dom0_mem": "4096M", "xen_guests": [guest]}})
    run = run_cli(inventory, "deploys/guests.py", answer="y\n")
    assert run.returncode == 0, run.output[-3000:]
    summary = run.output.index("--> Detected changes:")
    plans = [m.start() for m in re.finditer(r"plan: guest freebsd: memory 1536 -> 1024 MiB", run.output)]
    assert len(plans) == 1 and plans[0] < summary
