"""
Hostile and inconsistent host data end to end: the real pyinfra CLI over SSH
against three simulated FreeBSD hosts. A host whose data is bad, or that a
fleet-wide rule concerns (a guest on two Dom0s, one path for two guests), fails
alone, with its message, no traceback and nothing changed; the other host goes
on. Each case runs twice: with config.py (refused before connecting) and with
``--config`` naming another file, as when pyinfra runs from elsewhere, where the
deploys' own check (deploys/support.host_spec) must hold the same rules.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.e2e.deploy import pyinfra

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the simulated hosts are chroots served by sshd: needs root"),
]

DOM0 = {"xen_bridge_members": ["em0"], "xen_dom0_mem": "2048M", "xen_dom0_max_vcpus": 1}


def guest(name="web", **changes):
    data = {"name": name, "memory": 512, "disks": [{"file": f"/vm/{name}.img", "size": "1G"}], "vnc": None}
    data.update(changes)
    return data


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    from simhost.fleet import Fleet

    fleet = Fleet(f"/var/lib/freebsd-xen-sim/safety-{uuid.uuid4().hex[:8]}")
    for name in ("xen1", "xen2", "xen3"):
        fleet.add(name, "freebsd14")
    fleet.start()
    fleet.workdir = tmp_path_factory.mktemp("safety")
    # An empty config file: pyinfra loads no config.py, so only the deploys' own checks stand.
    (fleet.workdir / "elsewhere.py").write_text("")
    yield fleet
    fleet.stop()


def run_dom0_dry(fleet, data: dict[str, dict], *, with_config: bool):
    inventory = fleet.workdir / "inventory.py"
    fleet.write_inventory(inventory, {name: {**DOM0, **data.get(name, {})} for name in fleet.hosts})
    args = ["--dry"] if with_config else ["--dry", "--config", str(fleet.workdir / "elsewhere.py")]
    files = {name: host.read("/etc/rc.conf") for name, host in fleet.hosts.items()}
    run = pyinfra(inventory, "deploys/dom0.py", *args)
    assert {name: host.read("/etc/rc.conf") for name, host in fleet.hosts.items()} == files
    return run


def assert_failed_alone(run, failed: dict[str, list[str]], goes_on=("xen3",)):
    output = run.output
    assert "Traceback" not in output, output[-4000:]
    assert run.returncode == 1, output[-4000:]
    for name, fragments in failed.items():
        for fragment in fragments:
            assert fragment in output, (fragment, output[-4000:])
        # config.py refuses it at connection; without config.py, the deploy's own check stops it.
        assert (f"[{name}] invalid host data, nothing was changed on this host:" in output
                or f"[{name}] host data failed: nothing was changed on this host" in output), output[-4000:]
        assert f"[{name}] Ready: deploys/dom0.py" not in output
    for name in goes_on:
        assert f"[{name}] Ready: deploys/dom0.py" in output, output[-4000:]


@pytest.mark.parametrize("with_config", [True, False], ids=["config.py", "--config elsewhere"])
def test_a_guest_on_two_dom0s_fails_those_two_alone_without_a_traceback(fleet, with_config):
    run = run_dom0_dry(fleet, {"xen1": {"xen_guests": [guest()]}, "xen2": {"xen_guests": [guest()]}},
                       with_config=with_config)
    message = "guest web is declared on both xen1 and xen2: a guest belongs to one Dom0"
    assert_failed_alone(run, {"xen1": [f"xen1: {message}"], "xen2": [f"xen2: {message}"]})


@pytest.mark.parametrize("with_config", [True, False], ids=["config.py", "--config elsewhere"])
def test_one_path_for_two_guests_on_two_dom0s_fails_both(fleet, with_config):
    shared = guest("db", disks=[{"file": "/vm/web.img", "size": "1G"}])
    run = run_dom0_dry(fleet, {"xen1": {"xen_guests": [guest()]}, "xen2": {"xen_guests": [shared]}},
                       with_config=with_config)
    fragment = "both use /vm/web.img: a path belongs to one guest"
    assert_failed_alone(run, {"xen1": [fragment], "xen2": [fragment]})


@pytest.mark.parametrize("with_config", [True, False], ids=["config.py", "--config elsewhere"])
@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"xen_dom0_mem": "8192M\n"}, "xen1: xen_dom0_mem '8192M\\n' is not a size"),
        ({"xen_bridge_ip": "inet6 fe80::1%;reboot;/64"}, "xen1: xen_bridge_ip contains ';'"),
        ({"xen_migrate_ssh": "ssh -p 2222; reboot"}, "xen1: xen_migrate_ssh contains ';'"),
        ({"xen_guests": [guest(disks=[{"file": "/etc/rc.conf", "size": "1G"}])]},
         "xen1: xen_guests[0].disks[0].file file '/etc/rc.conf' is under /etc, which belongs to the system"),
        ({"xen_guests": [guest(cdrom={"path": "/vm/db.img"}), guest("db")]},
         "guests web on xen1 (xen_guests[0].cdrom.path) and db on xen1 (xen_guests[1].disks[0].file) both use "
         "/vm/db.img"),
        ({"xen_guests": [{**guest(), "memroy": 512}]}, "xen1: xen_guests[0].memroy is not a known key: did you mean memory?"),
    ],
    ids=["newline", "rc-syntax", "transport", "system-file", "cdrom-is-a-disk", "did-you-mean"],
)
def test_bad_data_fails_that_host_alone(fleet, with_config, data, fragment):
    run = run_dom0_dry(fleet, {"xen1": data}, with_config=with_config)
    assert_failed_alone(run, {"xen1": [fragment]}, goes_on=("xen2", "xen3"))


@pytest.mark.parametrize("with_config", [True, False], ids=["config.py", "--config elsewhere"])
def test_a_secret_of_the_wrong_type_is_never_shown(fleet, with_config):
    secret = 73914628
    run = run_dom0_dry(fleet, {"xen1": {"xen_guests": [guest(vnc={"password": secret})]}}, with_config=with_config)
    assert_failed_alone(run, {"xen1": ["xen1: xen_guests[0].vnc.password Input should be a valid string"]},
                        goes_on=("xen2", "xen3"))
    assert str(secret) not in run.output


# Carried intact: values with characters that need escaping reach the Dom0's files as declared.

PASSWORD = 'a"b\\c$`'  # a quote, a backslash and shell syntax: escaped for libxlutil, 7 characters


@pytest.fixture(scope="module")
def dom0(tmp_path_factory):
    from simhost.fleet import Fleet

    from tests import xlparse

    xlparse.require_libxlutil()
    fleet = Fleet(f"/var/lib/freebsd-xen-sim/intact-{uuid.uuid4().hex[:8]}")
    fleet.add("xen1", "freebsd14")
    fleet.start()
    inventory = tmp_path_factory.mktemp("intact") / "inventory.py"
    data = {**DOM0, "xen_dom0_mem": "4096M", "xen_bridge_ip": "inet 192.0.2.10/24"}
    fleet.write_inventory(inventory, {"xen1": data})
    run = pyinfra(inventory, "deploys/dom0.py")
    assert run.returncode == 0, run.output[-3000:]
    yield fleet, inventory, data
    fleet.stop()


def test_the_bridge_address_reaches_rc_conf_as_rc_reads_it(dom0):
    fleet, _, _ = dom0
    host = fleet.hosts["xen1"]
    done = host.run('. /etc/rc.conf; printf "%s" "$ifconfig_bridge0"')
    assert done.stdout == "addm em0 inet 192.0.2.10/24"


def test_a_password_with_quotes_reaches_the_config_intact_and_private(dom0):
    from tests import xlparse

    fleet, inventory, data = dom0
    hvm = guest("db", vnc={"password": PASSWORD}, installed=True, extra={"cmdline": 'console="ttyS0" x\\y'})
    fleet.write_inventory(inventory, {"xen1": {**data, "xen_guests": [hvm]}})
    run = pyinfra(inventory, "deploys/guests.py")
    assert run.returncode == 0, run.output[-3000:]
    assert PASSWORD not in run.output
    host = fleet.hosts["xen1"]
    assert host.run("stat -f %Lp /usr/local/etc/xen/db.cfg").stdout.strip() == "600"
    with xlparse.parse_cfg(host.read("/usr/local/etc/xen/db.cfg")) as cfg:
        assert cfg.get_string("vncpasswd") == PASSWORD
        assert cfg.get_string("name") == "db"
        assert cfg.get_string("cmdline") == 'console="ttyS0" x\\y'
    again = pyinfra(inventory, "deploys/guests.py")
    assert again.returncode == 0 and again.changed_operations() == {}, again.output[-3000:]
