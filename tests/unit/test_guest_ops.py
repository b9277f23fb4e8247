"""Guest operations and drift: the commands they yield for given Dom0 states."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from facts.guests import GuestsHost, PathInfo, guests_commands, parse_guests_sections
from facts.sections import framed, split_sections
from facts.xl import xl_list_long_command
from operations.files import staging_path
from facts.xl import XlDomain
from facts.zfs import ZfsVolume
from operations import guests
from operations.drift import guest_drift
from spec.fleet import GuestsHostSpec, fleet_problems
from spec.guest import GuestSpec
from spec.mac import stable_mac
from tests.opsupport import run_op

ISO_SHA = "a" * 64
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "outputs"


def handbook_guest(**changes) -> GuestSpec:
    """The FreeBSD Handbook's example guest, as this project declares it."""

    data = {
        "name": "freebsd",
        "memory": 1024,
        "maxmem": 2048,
        "vcpus": 2,
        "maxvcpus": 4,
        "disks": [{"zvol": "zroot/xen/freebsd-disk0", "size": "20G"}],
        "cdrom": {"url": "https://download.freebsd.org/x.iso", "sha256": ISO_SHA, "path": "/var/lib/xen/iso/freebsd.iso"},
        "vifs": [{"bridge": "bridge0"}],
        "vnc": {"password": "s3cret"},
        "serial": "pty",
        "usbdevice": "tablet",
    }
    data.update(changes)
    return GuestSpec(**data)


def dom0(**changes) -> GuestsHost:
    state = GuestsHost(
        domains=[XlDomain("Domain-0", 0, 4096, 2, frozenset({"running"}), "r-----", 10.0)],
        live_configs={},
        xen_info={"free_memory": 8000, "xen_major": 4, "xen_minor": 19},
        volumes={},
        interfaces=("em0", "lo0", "bridge0"),
        rc_conf={},
        files={"/etc/rc.conf": 'hostname="xen1"\n', "/etc/sysctl.conf": None, "/usr/local/etc/rc.d/xendomains": None},
        media_sha256={},
        init_shutdown_timeout=120,
    )
    return dataclasses.replace(state, **changes)


def live(guest: GuestSpec, *, memory=None, cdrom=True, bridge="bridge0") -> tuple[XlDomain, dict]:
    """What xl list / xl list -l show for ``guest`` running as declared."""

    disks = [{"pdev_path": d.target, "vdev": d.vdev, "readwrite": 1} for d in guest.disks]
    if cdrom and guest.cdrom:
        disks.append({"pdev_path": guest.cdrom.path, "vdev": guest.cdrom_vdev, "is_cdrom": 1})
    config = {
        "c_info": {"type": guest.type, "name": guest.name},
        "b_info": {"max_vcpus": guest.maxvcpus or guest.vcpus, "max_memkb": (guest.maxmem or guest.memory) * 1024,
                   "target_memkb": (memory or guest.memory) * 1024, "avail_vcpus": list(range(guest.vcpus))},
        "disks": disks,
        "nics": [{"devid": 0, "mac": stable_mac(guest.name, 0), "bridge": bridge}],
    }
    domain = XlDomain(guest.name, 3, memory or guest.memory, guest.vcpus, frozenset({"blocked"}), "-b----", 5.0)
    return domain, {"domid": 3, "config": config}


def running(guest: GuestSpec, **kwargs) -> GuestsHost:
    domain, entry = live(guest, **kwargs)
    base = dom0()
    return dataclasses.replace(base, domains=[*base.domains, domain], live_configs={guest.name: entry})


READ = guests.GuestsRead(("freebsd",), (), ("/var/lib/xen/iso/freebsd.iso",))


def commands(op, current, monkeypatch, **kwargs):
    return run_op(op, monkeypatch, guests, "guests_state", current, read=READ, **kwargs)


def test_composite_read_is_one_command_for_any_number_of_guests():
    names = tuple(f"g{i}" for i in range(50))
    commands_ = guests_commands(names, ("/vm/a.img",), ("/iso/a.iso",))
    assert commands_["cfgsum:/usr/local/etc/xen/g49.cfg"] == (
        "if [ -e /usr/local/etc/xen/g49.cfg ]; then sha256 -q /usr/local/etc/xen/g49.cfg; else (exit 44); fi"
    )
    assert commands_["xl_long"] == xl_list_long_command()
    assert commands_["sha256:/iso/a.iso"] == (
        "if [ -e /iso/a.iso ] || [ -L /iso/a.iso ]; then sha256 -q /iso/a.iso; else (exit 44); fi"
    )


def test_composite_parse_reads_files_sizes_and_checksums():
    listing = (FIXTURES / "xl_list.handbook_dom0.txt").read_text().splitlines()
    listing = [line for line in listing if not line.startswith("#")]
    lines = framed({
        "xl_list": ("\n".join(listing), 0),
        "xl_long": ("", 0),
        "cfgsum:/usr/local/etc/xen/a.cfg": (ISO_SHA, 0),
        "cfgsum:/usr/local/etc/xen/b.cfg": ("", 44),
        "stat:/vm/a.img": ("Regular File 21474836480", 0),
        "stat:/dev/ada9": ("", 44),
        "sha256:/iso/a.iso": (ISO_SHA.upper(), 0),
        "zfs": ("zroot/xen/a\t21474836480\tdev", 0),
    })
    state = parse_guests_sections(split_sections(lines))
    assert state.xl_works and state.domain("Domain-0") is not None
    assert state.config_sha256 == {"/usr/local/etc/xen/a.cfg": ISO_SHA, "/usr/local/etc/xen/b.cfg": None}
    assert state.paths == {"/vm/a.img": PathInfo("Regular File", 21474836480), "/dev/ada9": None}
    assert state.media_sha256["/iso/a.iso"] == ISO_SHA
    assert state.volumes["zroot/xen/a"].volsize == 21474836480


def test_new_guest_from_nothing(monkeypatch):
    guest = handbook_guest()
    assert commands(guests.disks, dom0(), monkeypatch, guest=guest) == [
        "zfs create -p -V 20G -o volmode=dev zroot/xen/freebsd-disk0",
    ]
    [fetch] = commands(guests.install_media, dom0(), monkeypatch, guest=guest)
    assert fetch.startswith("( mkdir -p /var/lib/xen/iso && fetch -q -o /var/lib/xen/iso/freebsd.iso.part ")
    assert f'[ "$got" = {ISO_SHA} ]' in fetch
    assert fetch.endswith("|| { rm -f /var/lib/xen/iso/freebsd.iso.part; exit 1; }")
    [stage, upload, install] = commands(guests.config, dom0(), monkeypatch, guest=guest)
    assert "mkdir -m 700 " in stage
    assert upload.startswith(f"upload {staging_path('/usr/local/etc/xen/freebsd.cfg')}: ")
    assert 'vncpasswd = "s3cret"' in upload
    assert "chmod 600 " in install
    assert "s3cret" not in install and ".bak" not in install and ".orig" not in install
    assert commands(guests.power, dom0(), monkeypatch, guest=guest) == ["xl create /usr/local/etc/xen/freebsd.cfg"]


def test_sparse_volume_and_growing_never_shrinking(monkeypatch):
    guest = handbook_guest(disks=[{"zvol": "zroot/xen/freebsd-disk0", "size": "30G", "sparse": True}])
    assert commands(guests.disks, dom0(), monkeypatch, guest=guest) == [
        "zfs create -p -s -V 30G -o volmode=dev zroot/xen/freebsd-disk0",
    ]
    small = dom0(volumes={"zroot/xen/freebsd-disk0": ZfsVolume("zroot/xen/freebsd-disk0", 20 * 1024**3, "dev")})
    assert commands(guests.disks, small, monkeypatch, guest=guest) == ["zfs set volsize=30G zroot/xen/freebsd-disk0"]
    big = dom0(volumes={"zroot/xen/freebsd-disk0": ZfsVolume("zroot/xen/freebsd-disk0", 40 * 1024**3, "dev")})
    [problem] = guests.plan_problems([guest], big)
    assert "larger than the declared 30G; volumes are never shrunk" in problem


def test_file_disk_created_with_truncate(monkeypatch):
    guest = handbook_guest(disks=[{"file": "/vm/freebsd.img", "size": "20G"}])
    assert commands(guests.disks, dom0(), monkeypatch, guest=guest) == [
        "mkdir -p /vm", "truncate -s 20G /vm/freebsd.img",
    ]
    there = dom0(paths={"/vm/freebsd.img": PathInfo("Regular File", 20 * 1024**3)})
    assert commands(guests.disks, there, monkeypatch, guest=guest) == []


def test_present_verified_medium_is_not_fetched_again(monkeypatch):
    guest = handbook_guest()
    present = dom0(media_sha256={"/var/lib/xen/iso/freebsd.iso": ISO_SHA})
    assert commands(guests.install_media, present, monkeypatch, guest=guest) == []
    wrong = dom0(media_sha256={"/var/lib/xen/iso/freebsd.iso": "b" * 64})
    assert len(commands(guests.install_media, wrong, monkeypatch, guest=guest)) == 1
    installed = handbook_guest(installed=True)
    assert commands(guests.install_media, dom0(), monkeypatch, guest=installed) == []


def test_plan_problems_name_the_guest_and_the_fix():
    guest = handbook_guest(vifs=[{"bridge": "bridge7"}], disks=[{"device": "/dev/ada9"}], memory=9000, maxmem=9000)
    problems = guests.plan_problems([guest], dom0())
    assert any("vifs[0] uses bridge bridge7, which does not exist" in p for p in problems)
    assert any("device /dev/ada9 does not exist" in p for p in problems)
    assert any("guest freebsd: needs 9000M but only 8000M" in p for p in problems)
    not_xen = dom0(domains=None, xl_error="cannot init xl context")
    assert guests.plan_problems([guest], not_xen) == [
        "this host is not a running Xen Dom0 (cannot init xl context): run deploys/dom0.py first",
    ]


def test_running_as_declared_needs_nothing(monkeypatch):
    guest = handbook_guest()
    assert commands(guests.power, running(guest), monkeypatch, guest=guest) == []
    assert guest_drift(guest, *live(guest)).empty


def test_memory_within_maxmem_is_applied_live(monkeypatch):
    guest = handbook_guest(memory=2048)
    current = running(handbook_guest(), memory=1024)
    assert commands(guests.power, current, monkeypatch, guest=guest) == ["xl mem-set freebsd 2048m"]


def test_vcpus_within_maxvcpus_are_applied_live():
    drift = guest_drift(handbook_guest(vcpus=4), *live(handbook_guest()))
    assert drift.live_commands("freebsd") == ["xl vcpu-set freebsd 4"]
    assert not drift.needs_restart


def test_changes_needing_a_restart_wait_for_permission(monkeypatch):
    guest = handbook_guest(vifs=[{"bridge": "bridge1"}])
    current = dataclasses.replace(running(handbook_guest()), interfaces=("bridge0", "bridge1"))
    assert commands(guests.power, current, monkeypatch, guest=guest) == []
    restarted = commands(guests.power, current, monkeypatch, guest=guest, restart_on_change=True)
    assert restarted == [
        guests.shutdown_command(handbook_guest(), 120),
        "xl create /usr/local/etc/xen/freebsd.cfg",
    ]


def test_installed_switch_restarts_to_boot_from_disk(monkeypatch):
    guest = handbook_guest(installed=True)
    drift = guest_drift(guest, *live(handbook_guest()))
    assert drift.install_finished
    assert commands(guests.power, running(handbook_guest()), monkeypatch, guest=guest) == [
        guests.shutdown_command(handbook_guest(), 120),
        "xl create /usr/local/etc/xen/freebsd.cfg",
    ]


def test_stopped_and_absent(monkeypatch):
    guest = handbook_guest(state="stopped")
    assert commands(guests.power, running(handbook_guest()), monkeypatch, guest=guest, shutdown_timeout=30) == [
        guests.shutdown_command(handbook_guest(), 30),
    ]
    assert commands(guests.power, dom0(), monkeypatch, guest=guest) == []
    absent = handbook_guest(state="absent")
    with_cfg = dataclasses.replace(
        running(handbook_guest()),
        config_sha256={"/usr/local/etc/xen/freebsd.cfg": ISO_SHA},
        volumes={"zroot/xen/freebsd-disk0": ZfsVolume("zroot/xen/freebsd-disk0", 1, "dev")},
    )
    kept = commands(guests.remove, with_cfg, monkeypatch, guest=absent)
    assert kept == [
        guests.shutdown_command(handbook_guest(), 120),
        "rm -f /usr/local/etc/xen/freebsd.cfg /usr/local/etc/xen/freebsd.cfg.bak",
    ]
    destroyed = commands(guests.remove, with_cfg, monkeypatch, guest=handbook_guest(state="absent", destroy_disks=True))
    assert destroyed[-1] == "zfs destroy zroot/xen/freebsd-disk0"


def test_autostart_installs_the_script_and_lists_guests_in_order(monkeypatch):
    first, second = handbook_guest(name="db"), handbook_guest(name="web", autostart=True)
    off = handbook_guest(name="scratch", autostart=False)
    got = commands(guests.autostart, dom0(), monkeypatch, guests=[first, second, off], delay=5)
    script = uploaded(got, "xendomains")
    assert script == guests.autostart_script() and "# REQUIRE: xencommons" in script
    assert any("chmod 555 " in command for command in got)
    rc = uploaded(got, "rc.conf")
    assert 'xendomains_enable="YES"\nxendomains_list="db web"\nxendomains_delay="5"' in rc
    # 120 s for the guests (all at once), 10 s to destroy, 30 s for the other services:
    # more than FreeBSD's 90 s rc.shutdown watchdog.
    assert 'rcshutdown_timeout="160"' in rc


def uploaded(got: list[str], name: str) -> str:
    """The content of the one upload of file ``name`` (its staging path's last part holds the name)."""

    uploads = [c.split(": ", 1) for c in got if c.startswith("upload ")]
    [content] = [text for dest, text in uploads if name in dest.rsplit("/", 1)[-1]]
    return content


def with_sysctl_conf(current: GuestsHost, text: str | None) -> GuestsHost:
    return dataclasses.replace(current, files={**current.files, "/etc/sysctl.conf": text})


def test_shutdown_budget_is_one_timeout_whatever_the_number_of_guests():
    # xendomains stops all guests at once with one deadline (operations/assets/xendomains)
    assert guests.shutdown_budget(120) == guests.ShutdownBudget(rcshutdown_timeout=160, init_shutdown_timeout=190)
    assert guests.shutdown_budget(30) == guests.ShutdownBudget(70, 100)


def test_init_shutdown_timeout_is_raised_live_and_at_boot_with_rcshutdown_timeout(monkeypatch):
    current = with_sysctl_conf(dom0(), "vm.max_user_wired=-1\n")
    got = commands(guests.autostart, current, monkeypatch, guests=[handbook_guest()], shutdown_timeout=300)
    rc = uploaded(got, "rc.conf")
    assert 'rcshutdown_timeout="340"' in rc
    assert guests.raised_init_shutdown_command(370) in got
    sysctl_conf = uploaded(got, "sysctl.conf")
    assert sysctl_conf == "vm.max_user_wired=-1\nkern.init_shutdown_timeout=370\n"


def test_larger_values_the_admin_set_are_kept(monkeypatch):
    current = with_sysctl_conf(
        dataclasses.replace(dom0(), files={**dom0().files, "/etc/rc.conf": 'rcshutdown_timeout="900"\n'}),
        "kern.init_shutdown_timeout=1000\n",
    )
    current = dataclasses.replace(current, init_shutdown_timeout=1000)
    got = commands(guests.autostart, current, monkeypatch, guests=[handbook_guest()])
    assert not any("sysctl" in c for c in got)
    rc = uploaded(got, "rc.conf")
    assert 'rcshutdown_timeout="900"' in rc and rc.count("rcshutdown_timeout") == 1


def test_a_live_value_lowered_by_hand_is_raised_again(monkeypatch):
    current = with_sysctl_conf(dom0(), "kern.init_shutdown_timeout=190\n")
    current = dataclasses.replace(current, init_shutdown_timeout=120)
    got = commands(guests.autostart, current, monkeypatch, guests=[handbook_guest()])
    assert guests.raised_init_shutdown_command(190) in got
    assert not any("sysctl.conf" in c.split(": ", 1)[0] for c in got if c.startswith("upload "))
    converged = dataclasses.replace(current, init_shutdown_timeout=190)
    assert not any("sysctl" in c for c in commands(guests.autostart, converged, monkeypatch, guests=[handbook_guest()]))


def test_a_short_timeout_fits_freebsds_defaults(monkeypatch):
    current = dataclasses.replace(with_sysctl_conf(dom0(), None), init_shutdown_timeout=120)
    got = commands(guests.autostart, current, monkeypatch, guests=[handbook_guest()], shutdown_timeout=30)
    assert not any("sysctl" in c or "rcshutdown_timeout" in c for c in got)


def test_an_admins_shorter_limits_are_raised_even_below_freebsds_defaults(monkeypatch):
    current = with_sysctl_conf(dom0(), "kern.init_shutdown_timeout=15\n")
    current = dataclasses.replace(current, init_shutdown_timeout=15, files={
        **current.files, "/etc/rc.conf": 'rcshutdown_timeout="30"\n',
    })
    got = commands(guests.autostart, current, monkeypatch, guests=[handbook_guest()], shutdown_timeout=20)
    assert 'rcshutdown_timeout="60"' in uploaded(got, "rc.conf")
    assert uploaded(got, "sysctl.conf") == "kern.init_shutdown_timeout=90\n"
    assert guests.raised_init_shutdown_command(90) in got


def test_xendomains_is_enabled_to_stop_guests_that_do_not_autostart(monkeypatch):
    only = handbook_guest(name="scratch", autostart=False)
    got = commands(guests.autostart, with_sysctl_conf(dom0(), ""), monkeypatch, guests=[only])
    rc = uploaded(got, "rc.conf")
    assert 'xendomains_enable="YES"\nxendomains_list=""' in rc


def test_the_live_raise_never_lowers_a_larger_value(tmp_path):
    import subprocess

    fake = tmp_path / "sysctl"
    fake.write_text('#!/bin/sh\n[ "$1" = -n ] && { cat "$LIVE"; exit 0; }\necho "${1#*=}" > "$LIVE"\n')
    fake.chmod(0o755)
    live = tmp_path / "live"
    for before, after in (("120", "190"), ("500", "500")):
        live.write_text(before + "\n")
        env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "LIVE": str(live)}
        done = subprocess.run(["/bin/sh", "-c", guests.raised_init_shutdown_command(190)], env=env)
        assert done.returncode == 0 and live.read_text().strip() == after


def test_unmanaged_guests_are_reported_not_touched():
    current = running(handbook_guest(name="legacy"))
    assert guests.unmanaged_guests([handbook_guest()], current) == ["legacy"]


def test_fleet_refuses_a_guest_on_two_dom0s_and_shared_macs():
    a = GuestsHostSpec(xen_guests=[handbook_guest()])
    b = GuestsHostSpec(xen_guests=[handbook_guest(vifs=[{"bridge": "bridge0", "mac": "00:16:3e:00:00:01"}])])
    c = GuestsHostSpec(xen_guests=[handbook_guest(name="other", vifs=[{"bridge": "bridge0", "mac": "00:16:3e:00:00:01"}])])
    problems = fleet_problems([("xen1", a), ("xen2", b), ("xen3", c)])
    assert problems[0].startswith("guest freebsd is declared on both xen1 and xen2")
    assert "MAC 00:16:3e:00:00:01 is used by both xen2/freebsd and xen3/other" in problems[1]


def test_guest_operations_record_their_effect(monkeypatch):
    guest = handbook_guest()
    current = dom0()
    for op in (guests.disks, guests.install_media, guests.config, guests.power):
        assert commands(op, current, monkeypatch, guest=guest), op
        run_op(op, monkeypatch, guests, "guests_state", current, apply_records=True, read=READ, guest=guest)
    for op in (guests.disks, guests.install_media, guests.config):
        assert commands(op, current, monkeypatch, guest=guest) == [], op
    assert current.domain("freebsd").mem_mib == 1024


# Every era: the running Xen decides how a guest's type is written and which keys it still takes.

XEN_47 = {"free_memory": 8000, "xen_major": 4, "xen_minor": 7}
XEN_421 = {"free_memory": 8000, "xen_major": 4, "xen_minor": 21}


def test_a_xen_47_dom0_runs_the_handbooks_guest_written_with_builder(monkeypatch):
    guest = handbook_guest()
    current = dom0(xen_info=XEN_47)
    assert guests.plan_problems([guest], current) == []
    [_, upload, _] = commands(guests.config, current, monkeypatch, guest=guest)
    assert '\nbuilder = "hvm"\n' in upload and "\ntype = " not in upload


def test_a_pvh_guest_on_xen_47_is_refused_before_anything_changes():
    guest = handbook_guest(type="pvh", cdrom=None, vnc=None, serial=None, usbdevice=None)
    [problem] = guests.plan_problems([guest], dom0(xen_info=XEN_47))
    assert problem.startswith("guest freebsd: type 'pvh' needs Xen 4.10 or later (this Dom0 runs Xen 4.7")


def test_a_key_value_that_xen_421_removed_is_refused_with_the_reason_there_only():
    guest = handbook_guest(extra={"device_model_version": "qemu-xen-traditional"})
    [problem] = guests.plan_problems([guest], dom0(xen_info=XEN_421))
    assert problem.startswith("guest freebsd: extra device_model_version = 'qemu-xen-traditional': Xen 4.21 removed")
    assert problem.endswith("(this Dom0 runs Xen 4.21)")
    assert guests.plan_problems([guest], dom0()) == []  # 4.19 still has it
    modern = handbook_guest(extra={"device_model_version": "qemu-xen"})
    assert guests.plan_problems([modern], dom0(xen_info=XEN_421)) == []


# The plan: what --dry and the change summary say for each guest, in plain words.


@pytest.fixture
def plans(monkeypatch):
    from pyinfra.api.host import Host

    said: list[str] = []
    monkeypatch.setattr(Host, "log_styled", lambda self, message, **kw: said.append(message))
    return said


def test_the_plan_of_a_live_memory_change(monkeypatch, plans):
    guest = handbook_guest(memory=1536)
    current = running(handbook_guest(), memory=1024)
    commands(guests.power, current, monkeypatch, guest=guest)
    assert plans == ["plan: guest freebsd: memory 1024 -> 1536 MiB (live: xl mem-set)"]


def test_the_plan_of_a_change_that_awaits_a_restart(monkeypatch, plans):
    guest = handbook_guest(vifs=[{"bridge": "bridge0"}, {"bridge": "bridge0", "mac": "00:16:3e:00:00:02"}])
    current = running(handbook_guest())
    current.config_sha256["/usr/local/etc/xen/freebsd.cfg"] = "b" * 64  # the config of the running guest
    commands(guests.config, current, monkeypatch, guest=guest)
    commands(guests.power, current, monkeypatch, guest=guest)
    plans[:] = [p for p in plans if p.startswith("plan: ")]
    assert plans[0] == "plan: guest freebsd: /usr/local/etc/xen/freebsd.cfg rewritten, mode 600"
    assert plans[1:] == ["plan: guest freebsd: vif 1 added (bridge0, 00:16:3e:00:00:02) (config only: awaits a restart)"]
    plans.clear()
    commands(guests.power, current, monkeypatch, guest=guest, restart_on_change=True)
    assert plans == [
        "plan: guest freebsd: restarted (xl shutdown -F, xl destroy after 120s, then xl create), "
        "because vif 1 added (bridge0, 00:16:3e:00:00:02)",
    ]


def test_a_pending_restart_is_planned_only_with_the_configs_rewrite(monkeypatch, plans):
    from spec.xlcfg import render_xl_cfg
    import hashlib

    guest = handbook_guest(vifs=[{"bridge": "bridge0"}, {"bridge": "bridge0"}])
    current = running(handbook_guest())
    written = hashlib.sha256(render_xl_cfg(guest, xen=(4, 19)).encode()).hexdigest()
    current.config_sha256["/usr/local/etc/xen/freebsd.cfg"] = written
    commands(guests.power, current, monkeypatch, guest=guest)
    assert [p for p in plans if p.startswith("plan:")] == []  # the warning says it awaits a restart


def test_the_diff_of_a_guest_config_masks_the_password_on_both_sides(monkeypatch, plans):
    from pyinfra.api.host import Host
    from operations import steps

    printed: list[str] = []
    monkeypatch.setattr(steps.logger, "info", lambda fmt, *args: printed.append(fmt % args if args else fmt))
    monkeypatch.setattr(Host, "log", lambda self, message, log_func=None: printed.append(message))
    old_text = 'name = "freebsd"\nmemory = 1024\nvncpasswd = "0ld-pw"\n'
    asked: list[str] = []

    def fact(self, cls, command):
        asked.append(command)
        # What the host's awk hands back (checked against mask_secret_lines in test_xlcfg).
        return old_text.replace('"0ld-pw"', "********").rstrip("\n")

    monkeypatch.setattr(Host, "get_fact", fact)
    monkeypatch.setattr(steps, "said_once_per_run", lambda: True)
    guest = handbook_guest(memory=1536)
    current = running(handbook_guest())
    current.config_sha256["/usr/local/etc/xen/freebsd.cfg"] = "b" * 64
    from pyinfra.context import ctx_state
    from tests.opsupport import fake_host

    monkeypatch.setattr(guests, "guests_state", lambda *a, **k: current)
    with fake_host() as host:
        host.state.config.DIFF = True
        list(guests.config._inner(guest=guest, read=READ))
    assert printed[0] == "Will modify /usr/local/etc/xen/freebsd.cfg"
    text = "\n".join(printed)
    assert "s3cret" not in text and "0ld-pw" not in text
    assert "+ memory = 1536" in text and "- memory = 1024" in text
    assert asked and asked[0].startswith("awk ") and asked[0].endswith(" /usr/local/etc/xen/freebsd.cfg")



def test_a_target_set_live_is_not_set_again_while_the_guest_takes_it_up(monkeypatch):
    # Real Xen 4.17 (tests/fixtures/outputs/xen-4.17/scenario.json, steps 7-13): after
    # xl mem-set / vcpu-set, xl list -l shows the new target at once, xl list the old
    # values until the guest follows (never, without PV drivers).
    guest = handbook_guest(memory=1536, vcpus=3)
    domain, entry = live(guest)
    lagging = dataclasses.replace(domain, mem_mib=1024, vcpus=2)
    base = dom0()
    current = dataclasses.replace(base, domains=[*base.domains, lagging], live_configs={"freebsd": entry})
    assert commands(guests.power, current, monkeypatch, guest=guest) == []
