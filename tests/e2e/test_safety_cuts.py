"""
The SSH connection cut after every remote request of a first Dom0 run and of a
first guests run (issue 10): the rerun converges, and every line the admin
wrote survives.

One simulated Dom0 per cut point, all in one pyinfra run: host ``cN`` loses its
connection right after its Nth request (tests/e2e/cut_connection.py), and the
``probe`` host, never cut, tells how many requests a whole run makes, so the
test fails loudly when a run grows past the cut points it covers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.deploy import ROOT, Run, pyinfra

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the simulated hosts are chroots served by sshd: needs root"),
]

CUT_POINTS = 32
# A whole first run makes at least these requests: fewer means the probe did not run it all.
MIN_REQUESTS = {"deploys/dom0.py": 10, "deploys/guests.py": 5}
DOM0 = {"xen_bridge_members": ["em0"], "xen_dom0_mem": "2048M", "xen_dom0_max_vcpus": 2}


def guest_of(host_name: str) -> dict:
    # Guest names, and so disk paths and derived MACs, are unique in an inventory.
    return {
        "name": f"web-{host_name}",
        "memory": 256,
        "vcpus": 1,
        "disks": [{"file": f"/vm/web-{host_name}.img", "size": "1G"}],
        "vifs": [{"bridge": "bridge0"}],
        "vnc": {"password": "s3cr3t"},
        "installed": True,
    }
# What admins leave: comments, their own keys, and no final newline.
ADMIN_FILES = {
    "/etc/rc.conf": 'hostname="{name}"\n# the admin\'s own notes\nsshd_enable="YES"\nzfs_enable="YES"\n'
                    'defaultrouter="192.0.2.1"',
    "/boot/loader.conf": '# loader settings\nzfs_load="YES"\nautoboot_delay="2"',
}


def cut_run(inventory, deploy: str, counts) -> Run:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests/e2e/cut_connection.py"), "-y", str(inventory), deploy],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, CUT_COUNTS=str(counts), COLUMNS="200"),
    )
    return Run(done.returncode, done.stdout + done.stderr)


def write_inventory(fleet, path, names, data_of) -> None:
    entries = [(name, {**fleet.host_data(name), **data_of(name)}) for name in names]
    path.write_text(f"simhosts = {entries!r}\n")


def each_alone(fleet, run_one) -> dict[str, Run]:
    """``run_one(name)`` for every host, a few pyinfra processes at a time."""

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(fleet.hosts, pool.map(run_one, fleet.hosts)))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    from simhost.fleet import Fleet

    fleet = Fleet(f"/var/lib/freebsd-xen-sim/cuts-{uuid.uuid4().hex[:8]}")
    names = [f"c{n}" for n in range(1, CUT_POINTS + 1)] + ["probe"]
    for name in names:
        fleet.add(name, "freebsd14")
    fleet.start()
    for name, host in fleet.hosts.items():
        for path, text in ADMIN_FILES.items():
            host.write(path, text.format(name=name))
    fleet.tmp = tmp_path_factory.mktemp("cuts")
    yield fleet
    fleet.stop()


def admin_lines_survive(fleet) -> list[str]:
    lost = []
    for name, host in fleet.hosts.items():
        for path, text in ADMIN_FILES.items():
            now = host.read(path).splitlines()
            lost += [f"{name}:{path}: {line!r}" for line in text.format(name=name).splitlines() if line not in now]
    return lost


def leftovers(fleet) -> list[str]:
    found = []
    for name, host in fleet.hosts.items():
        listing = host.run("ls -a /etc /boot /usr/local/etc/xen 2>/dev/null").stdout.split()
        found += [f"{name}: {entry}" for entry in listing if "pyinfra" in entry and "stage" in entry]
    return found


def cut_everywhere_then_converge(fleet, deploy: str, data_of, together: bool = True) -> None:
    """
    The first run cut at every point, then a rerun that must converge. With
    ``together``, all hosts share one inventory and one pyinfra run; otherwise
    each host runs alone: a first guests run reads every other Dom0 of its
    inventory (is a new guest running there?) and rightly stops when one of
    those reads is cut, so shared runs would test that instead.
    """

    slug = deploy.replace("/", "_").removesuffix(".py")

    def cut_at(name):
        return {**data_of(name), **({"cut_after": int(name[1:])} if name != "probe" else {})}

    def first_run(names, tag):
        inventory, counts = fleet.tmp / f"{slug}-{tag}.py", fleet.tmp / f"{slug}-{tag}.json"
        write_inventory(fleet, inventory, names, cut_at)
        return cut_run(inventory, deploy, counts), json.loads(counts.read_text()) if counts.exists() else {}

    def converge(names, tag):
        inventory = fleet.tmp / f"{slug}-{tag}-again.py"
        write_inventory(fleet, inventory, names, data_of)
        return pyinfra(inventory, deploy), pyinfra(inventory, deploy)

    if together:
        firsts = {"all": first_run(list(fleet.hosts), "all")}
        reruns = {"all": converge(list(fleet.hosts), "all")}
    else:
        firsts = each_alone(fleet, lambda name: first_run([name], name))
        reruns = each_alone(fleet, lambda name: converge([name], name))
    requests = {name: count for _, counts in firsts.values() for name, count in counts.items()}
    for first, _ in firsts.values():
        # A cut fails its own host only: no traceback, and the run goes on.
        assert "Traceback" not in first.output and "exception occurred" not in first.output, first.output[-5000:]
    assert requests.get("probe", 0) >= MIN_REQUESTS[deploy], (requests, firsts.get("probe", firsts.get("all")))
    assert requests["probe"] <= CUT_POINTS, (
        f"a first {deploy} run makes {requests['probe']} requests: raise CUT_POINTS to cover every cut point"
    )
    # every cut point was reached (a host may make more requests after its cut: the reboot wait reconnects)
    assert all(requests.get(f"c{n}", 0) >= n for n in range(1, requests["probe"] + 1)), requests
    for rerun, again in reruns.values():
        assert rerun.returncode == 0, rerun.output[-5000:]
        assert again.returncode == 0 and again.changed_operations() == {}, again.output[-5000:]
    assert admin_lines_survive(fleet) == []
    assert leftovers(fleet) == []


def test_1_a_first_dom0_run_cut_anywhere_converges_and_keeps_every_admin_line(fleet):
    ttys = {name: host.read("/etc/ttys").splitlines() for name, host in fleet.hosts.items()}
    cut_everywhere_then_converge(fleet, "deploys/dom0.py", lambda name: DOM0)
    for name, host in fleet.hosts.items():
        assert set(ttys[name]) <= set(host.read("/etc/ttys").splitlines()), name
        assert host.run("xl list").returncode == 0, name


def test_2_a_first_guests_run_cut_anywhere_converges_with_one_running_copy(fleet):
    cut_everywhere_then_converge(
        fleet, "deploys/guests.py", lambda name: {**DOM0, "xen_guests": [guest_of(name)]}, together=False,
    )
    for name, host in fleet.hosts.items():
        assert sorted(host.sim_state()["domains"]) == ["Domain-0", f"web-{name}"], name
        config = host.run(f"stat -f '%Lp' /usr/local/etc/xen/web-{name}.cfg").stdout.strip()
        assert config == "600", (name, config)  # it holds the VNC password
