"""Dom0 operations: the commands they yield for given host states."""

import dataclasses
from pathlib import Path

import pytest

from facts.dom0 import LOADER_CONF, LOGIN_CONF, MENU_RC_LOCAL, RC_CONF, SYSCTL_CONF, TTYS, XL_CONF, Dom0Host
from facts.hardware import CpuVirtualisation
from facts.xl import XlDomain
from operations import dom0
from operations.files import staging_path
from spec.schema import validate_dom0
from tests.opsupport import run_op

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
STOCK_LOGIN_CONF = (FIXTURES / "freebsd" / "login.conf.freebsd14").read_text()
STOCK_TTYS_14 = (FIXTURES / "freebsd" / "ttys.freebsd14").read_text()
STOCK_TTYS_11 = (FIXTURES / "freebsd" / "ttys.freebsd11").read_text()

INTEL = CpuVirtualisation("intel", True, True, False, "VT-x: PAT,HLT,MTF,PAUSE,EPT,UG,VPID")
SPEC = validate_dom0("xen1", {"xen_bridge_members": ["em0"]})
CMDLINE = SPEC.cmdline


def fresh_host(**changes) -> Dom0Host:
    """A stock FreeBSD 14.1 host that has never seen Xen."""

    host = Dom0Host(
        release="14.1-RELEASE",
        freebsd_version=(14, 1),
        sysctl={
            "hw.machine_arch": "amd64",
            "hw.ncpu": "8",
            "hw.physmem": str(16 * 1024**3),
            "kern.vm_guest": "none",
            "machdep.bootmethod": "BIOS",
            "vm.max_user_wired": "1546489",
        },
        packages={},
        cpu=INTEL,
        acpi_tables=frozenset({"RSD PTR", "XSDT", "FACP", "APIC", "DMAR"}),
        interfaces=("em0", "lo0"),
        login_db_fresh=True,
        xen_kernel_present=False,
        xen_boot_menu_present=False,
        log_dir=None,
        files={
            LOADER_CONF: 'autoboot_delay="3"\n',
            RC_CONF: 'hostname="xen1"\nifconfig_em0="DHCP"\nsshd_enable="YES"\n',
            SYSCTL_CONF: "# sysctl.conf\n",
            LOGIN_CONF: STOCK_LOGIN_CONF,
            TTYS: STOCK_TTYS_14,
            XL_CONF: None,
            MENU_RC_LOCAL: None,
        },
    )
    return dataclasses.replace(host, **changes)


def converged_host(**changes) -> Dom0Host:
    host = fresh_host()
    files = dict(host.files)
    files[LOADER_CONF] = f'autoboot_delay="3"\nxen_kernel="/boot/xen"\nxen_cmdline="{CMDLINE}"\n'
    files[SYSCTL_CONF] = "# sysctl.conf\nvm.max_user_wired=-1\n"
    files[LOGIN_CONF] = STOCK_LOGIN_CONF.replace(":memorylocked=64K:", ":memorylocked=unlimited:")
    files[RC_CONF] = (
        'hostname="xen1"\nifconfig_em0="up"\nsshd_enable="YES"\nxencommons_enable="YES"\n'
        'cloned_interfaces="bridge0"\nifconfig_bridge0="addm em0 SYNCDHCP"\n'
    )
    files[XL_CONF] = 'vif.default.bridge="bridge0"\nautoballoon="off"\n'
    sysctl = dict(host.sysctl, **{"kern.vm_guest": "xen", "vm.max_user_wired": "18446744073709551615"})
    converged = dict(
        sysctl=sysctl,
        files=files,
        packages={"xen-kernel": "4.19.1", "xen-tools": "4.19.1"},
        interfaces=("em0", "lo0", "bridge0"),
        log_dir=("Directory", "755"),
        domains=[XlDomain("Domain-0", 0, 8192, 4, frozenset({"running"}), "r-----", 12.5)],
        xen_info={
            "xen_major": 4, "xen_minor": 19, "xen_version": "4.19.1", "nr_cpus": 8, "total_memory": 16383,
            "virt_caps": frozenset({"hvm", "hvm_directio", "hap", "shadow"}), "xen_commandline": CMDLINE,
        },
    )
    return dataclasses.replace(host, **{**converged, **changes})


def commands(op, current, monkeypatch, **kwargs):
    return run_op(op, monkeypatch, dom0, "dom0_state", current, **kwargs)


def test_stock_login_conf_has_64k_in_default_class():
    # The fixture is the real stock file: the operation must change that line.
    assert ":memorylocked=64K:" in STOCK_LOGIN_CONF


@pytest.mark.parametrize(
    "op, kwargs",
    [
        (dom0.packages, {"spec": SPEC}), (dom0.wired_memory, {}), (dom0.login_class, {}), (dom0.console, {}),
        (dom0.loader_conf, {"spec": SPEC}), (dom0.log_dir, {}), (dom0.boot_menu, {"spec": SPEC}),
        (dom0.rc_conf, {"spec": SPEC}), (dom0.xl_conf, {"spec": SPEC}), (dom0.reboot_into_xen, {"spec": SPEC}),
    ],
)
def test_converged_host_needs_nothing(op, kwargs, monkeypatch):
    assert commands(op, converged_host(), monkeypatch, **kwargs) == []


def test_packages_installs_only_what_is_missing(monkeypatch):
    assert commands(dom0.packages, fresh_host(), monkeypatch, spec=SPEC) == ["pkg install -y xen-kernel xen-tools"]
    half = fresh_host(packages={"xen-kernel": "4.19.1"})
    assert commands(dom0.packages, half, monkeypatch, spec=SPEC) == ["pkg install -y xen-tools"]


def test_packages_bootstraps_pkg_on_a_fresh_freebsd(monkeypatch):
    # pkg(7) without a tty bootstraps only with ASSUME_ALWAYS_YES: pkg install's -y is not read
    fresh = fresh_host(pkg_bootstrapped=False)
    assert commands(dom0.packages, fresh, monkeypatch, spec=SPEC) == [
        "env ASSUME_ALWAYS_YES=yes pkg bootstrap", "pkg install -y xen-kernel xen-tools"]


def test_wired_memory_uses_the_releases_sysctl_and_drops_the_old_name(monkeypatch):
    host = fresh_host(files={**fresh_host().files, SYSCTL_CONF: "# mine\nvm.max_wired=-1\nkern.ipc.somaxconn=1024\n"})
    got = commands(dom0.wired_memory, host, monkeypatch)
    assert got[0] == "sysctl vm.max_user_wired=-1"
    assert got[2] == f"upload {staging_path(SYSCTL_CONF)}: # mine\nkern.ipc.somaxconn=1024\nvm.max_user_wired=-1\n"
    assert "cp -p /etc/sysctl.conf " in got[3] and " /etc/sysctl.conf.bak " in got[3]
    assert f"chmod 644 {staging_path(SYSCTL_CONF)}" in got[3]


def test_wired_memory_before_freebsd_13_uses_vm_max_wired(monkeypatch):
    host = fresh_host(release="12.4-RELEASE", freebsd_version=(12, 4), sysctl={"vm.max_wired": "1234"})
    got = commands(dom0.wired_memory, host, monkeypatch)
    assert got[0] == "sysctl vm.max_wired=-1"
    assert got[2] == f"upload {staging_path(SYSCTL_CONF)}: # sysctl.conf\nvm.max_wired=-1\n"


def test_login_class_changes_only_the_default_class_then_cap_mkdb(monkeypatch):
    got = commands(dom0.login_class, fresh_host(), monkeypatch)
    uploaded = got[1].split(": ", 1)[1]
    assert uploaded == STOCK_LOGIN_CONF.replace(":memorylocked=64K:", ":memorylocked=unlimited:", 1)
    assert got[-1] == "cap_mkdb /etc/login.conf"


def test_login_class_recompiles_a_stale_database_only(monkeypatch):
    host = converged_host(login_db_fresh=False)
    assert commands(dom0.login_class, host, monkeypatch) == ["cap_mkdb /etc/login.conf"]


def test_console_never_duplicates_xc0(monkeypatch):
    assert commands(dom0.console, fresh_host(), monkeypatch) == []
    old = fresh_host(files={**fresh_host().files, TTYS: STOCK_TTYS_11})
    [_, upload, _] = commands(dom0.console, old, monkeypatch)
    added = upload.split(": ", 1)[1]
    assert added.startswith(STOCK_TTYS_11.rstrip("\n"))
    assert added.count("\nxc0") == 1


def test_loader_conf_keeps_the_users_lines(monkeypatch):
    [_, upload, install] = commands(dom0.loader_conf, fresh_host(), monkeypatch, spec=SPEC)
    assert upload == f'upload {staging_path(LOADER_CONF)}: autoboot_delay="3"\nxen_kernel="/boot/xen"\nxen_cmdline="{CMDLINE}"\n'
    assert "cp -p /boot/loader.conf " in install and " /boot/loader.conf.bak " in install
    assert f"mv -f {staging_path(LOADER_CONF)} /boot/loader.conf" in install


def test_loader_conf_for_xen_47(monkeypatch):
    spec = validate_dom0("old", {"xen_bridge_members": ["em0"], "xen_version": "4.7", "xen_dom0_mem": "2048M"})
    [_, upload, _] = commands(dom0.loader_conf, fresh_host(), monkeypatch, spec=spec)
    assert 'hw.pci.mcfg="0"' in upload
    assert "dom0pvh=1" in upload


def test_log_dir_fixes_the_handbooks_644(monkeypatch):
    host = converged_host(log_dir=("Directory", "644"))
    assert commands(dom0.log_dir, host, monkeypatch) == ["mkdir -p /var/log/xen", "chmod 755 /var/log/xen"]


def test_boot_menu_only_for_xen_47(monkeypatch):
    assert commands(dom0.boot_menu, fresh_host(), monkeypatch, spec=SPEC) == []
    spec47 = validate_dom0("old", {"xen_bridge_members": ["em0"], "xen_version": "4.7"})
    [_, upload, _] = commands(dom0.boot_menu, fresh_host(), monkeypatch, spec=spec47)
    assert upload == f"upload {staging_path(MENU_RC_LOCAL)}: try-include /boot/xen.4th\n"


def test_rc_conf_cloned_bridge_keeps_other_cloned_interfaces(monkeypatch):
    files = {**fresh_host().files, RC_CONF: 'cloned_interfaces="lagg0 tap0"\nifconfig_em0="DHCP"\n'}
    [_, upload, _] = commands(dom0.rc_conf, fresh_host(files=files), monkeypatch, spec=SPEC)
    assert upload.split(": ", 1)[1] == (
        'cloned_interfaces="lagg0 tap0 bridge0"\nifconfig_em0="up"\nxencommons_enable="YES"\n'
        'ifconfig_bridge0="addm em0 SYNCDHCP"\n'
    )


def test_rc_conf_autobridge_style(monkeypatch):
    spec = validate_dom0("x", {"xen_bridge_members": ["em0", "em1"], "xen_bridge_style": "autobridge",
                               "xen_bridge_ip": "inet 192.0.2.10/24"})
    values, remove = dom0.bridge_rc_values(spec, {})
    assert values == {
        "xencommons_enable": "YES", "cloned_interfaces": "bridge0", "autobridge_interfaces": "bridge0",
        "autobridge_bridge0": "em0 em1", "ifconfig_bridge0": "inet 192.0.2.10/24",
        "ifconfig_em0": "up", "ifconfig_em1": "up",
    }
    assert remove == []


def test_switching_back_to_cloned_removes_autobridge_keys():
    values, remove = dom0.bridge_rc_values(
        SPEC, {"autobridge_interfaces": "bridge0", "autobridge_bridge0": "em0", "cloned_interfaces": "bridge0"},
    )
    assert remove == ["autobridge_interfaces", "autobridge_bridge0"]
    assert values["ifconfig_bridge0"] == "addm em0 SYNCDHCP"


def test_xl_conf_created_when_absent(monkeypatch):
    [_, upload, install] = commands(dom0.xl_conf, fresh_host(), monkeypatch, spec=SPEC)
    assert upload == f'upload {staging_path(XL_CONF)}: vif.default.bridge="bridge0"\nautoballoon="off"\n'
    assert "cp -p" not in install


def test_reboot_when_xen_not_running_then_verify(monkeypatch):
    got = commands(dom0.reboot_into_xen, fresh_host(), monkeypatch, spec=SPEC)
    # shutdown(8) runs rc.shutdown (xendomains stops the guests cleanly); reboot(8) does not.
    assert "( sleep 1 && shutdown -r now ) </dev/null >/dev/null 2>&1 &" in got
    assert not any("&& reboot" in command for command in got)
    assert got[-1] == "function verify"


def guest_domain(name: str, domid: int) -> XlDomain:
    return XlDomain(name, domid, 1024, 1, frozenset({"blocked"}), "-b----", 3.0)


AUTOSTART_RC = 'xendomains_enable="YES"\nxendomains_list="db web"\n'


@pytest.mark.parametrize(
    "running, rc, allow, stopped, come_back, stay_stopped, refused",
    [
        ([], AUTOSTART_RC, False, (), (), (), None),
        (["web", "db"], AUTOSTART_RC, False, ("web", "db"), ("db", "web"), (), None),
        (["web", "db", "scratch"], AUTOSTART_RC, False, ("web", "db", "scratch"), ("db", "web"), ("scratch",),
         "guest scratch runs and would not come back (not in xendomains_list)"),
        (["web", "db", "scratch"], AUTOSTART_RC, True, ("web", "db", "scratch"), ("db", "web"), ("scratch",), None),
        (["web"], 'xendomains_enable="NO"\nxendomains_list="web"\n', False, ("web",), (), ("web",),
         "guest web runs and would not come back (xendomains is not enabled: they would lose power)"),
        (["web"], "", False, ("web",), (), ("web",), "xendomains is not enabled"),
        # a nameless domain (being destroyed, a zombie, or one an admin named so: xl cannot tell)
        # refuses the reboot like any domain that would not come back, and is said to be one
        (["web", "(null)"], AUTOSTART_RC, False, ("web", "(null)"), ("web",), ("(null)",),
         "guest (null) runs and would not come back (not in xendomains_list); "),
        (["web", "(null)"], AUTOSTART_RC, False, ("web", "(null)"), ("web",), ("(null)",),
         "((null) is a domain without a name in xenstore: one being destroyed is gone in a moment"),
    ],
)
def test_reboot_guests_plan(running, rc, allow, stopped, come_back, stay_stopped, refused):
    from facts.rcfile import parse_rc_text

    plan = dom0.reboot_guests_plan(["Domain-0", *running], parse_rc_text(rc), allow)
    assert (plan.stopped, plan.come_back, plan.stay_stopped) == (stopped, come_back, stay_stopped)
    if refused:
        assert plan.refusal.startswith("refusing to reboot") and refused in plan.refusal
        assert "xen_reboot_stops_guests: True" in plan.refusal
    else:
        assert plan.refusal is None


def dom0_with_guests(*names: str, rc: str = AUTOSTART_RC) -> Dom0Host:
    from facts.dom0 import AUTOSTART_SCRIPT
    from operations.guests import autostart_script

    host = converged_host()
    domains = [*host.domains, *(guest_domain(name, i + 1) for i, name in enumerate(names))]
    files = {**host.files, RC_CONF: host.file(RC_CONF) + rc, AUTOSTART_SCRIPT: autostart_script()}
    return dataclasses.replace(host, domains=domains, files=files)


def test_a_reboot_says_which_guests_stop_and_which_come_back(monkeypatch):
    spec = validate_dom0("x", {"xen_bridge_members": ["em0"], "xen_dom0_mem": "4G"})
    plan = dom0.reboot_plan_for(dom0_with_guests("web", "db"), spec)
    assert plan.summary() == (
        "guests web, db are shut down cleanly by xendomains; back by autostart, in this order: db, web"
    )
    got = commands(dom0.reboot_into_xen, dom0_with_guests("web", "db"), monkeypatch, spec=spec)
    assert "( sleep 1 && shutdown -r now ) </dev/null >/dev/null 2>&1 &" in got


def test_a_reboot_that_would_leave_a_guest_down_is_refused(monkeypatch):
    spec = validate_dom0("x", {"xen_bridge_members": ["em0"], "xen_dom0_mem": "4G"})
    got = commands(dom0.reboot_into_xen, dom0_with_guests("web", "db", "scratch"), monkeypatch, spec=spec)
    assert got == ["function refused"]


def test_no_reboot_when_disallowed(monkeypatch):
    spec = validate_dom0("x", {"xen_bridge_members": ["em0"], "xen_reboot": False})
    assert commands(dom0.reboot_into_xen, fresh_host(), monkeypatch, spec=spec) == []


def test_reboot_when_the_command_line_changed(monkeypatch):
    spec = validate_dom0("x", {"xen_bridge_members": ["em0"], "xen_dom0_mem": "4G"})
    assert dom0.pending_reboot_reasons(converged_host(), spec) == [
        f'xen_cmdline changed (dom0_mem 8192M -> 4G): Xen runs with "{CMDLINE}", loader.conf now says "{spec.cmdline}"',
    ]


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"sysctl": {"hw.machine_arch": "i386", "hw.ncpu": "8"}}, "needs amd64, this host is i386"),
        ({"cpu": CpuVirtualisation("intel", False, False, True, "VT-x: (disabled in BIOS) PAT")}, "disabled in the BIOS"),
        ({"cpu": CpuVirtualisation("intel", True, False, False, "VT-x: PAT,HLT")}, "second-level paging"),
        ({"cpu": CpuVirtualisation(None, False, False, False, "")}, "no hardware virtualisation"),
        ({"acpi_tables": frozenset({"XSDT", "FACP"})}, "no IOMMU"),
        ({"release": "13.2-RELEASE", "freebsd_version": (13, 2),
          "sysctl": {"hw.machine_arch": "amd64", "machdep.bootmethod": "UEFI"}}, "needs FreeBSD 14 or later"),
        ({"release": "11.4-RELEASE", "freebsd_version": (11, 4)}, "runs on FreeBSD 12 or later"),
        ({"packages": {"xen-kernel47": "4.7.2"}}, "remove it with 'pkg delete xen-kernel47'"),
        ({"interfaces": ("igb0", "lo0")}, "em0 not found on this host (it has: igb0 lo0)"),
        ({"log_dir": ("Regular File", "644")}, "/var/log/xen exists but is a regular file"),
    ],
)
def test_preflight_refuses_with_a_reason(changes, fragment):
    problems = dom0.preflight_problems(fresh_host(**changes), SPEC)
    assert any(fragment in p for p in problems), problems


def test_preflight_passes_a_good_host_and_skips_hardware_under_xen():
    assert dom0.preflight_problems(fresh_host(), SPEC) == []
    # Under Xen the VT-x line and the DMAR table are hidden: not a problem.
    hidden = converged_host(cpu=CpuVirtualisation("intel", False, False, False, ""), acpi_tables=frozenset())
    assert dom0.preflight_problems(hidden, SPEC) == []


def test_running_problems_catch_a_dom0_that_differs():
    assert dom0.running_problems(converged_host(), SPEC) == []
    small = converged_host(domains=[XlDomain("Domain-0", 0, 2048, 2, frozenset({"running"}), "r-----", 1.0)])
    assert dom0.running_problems(small, SPEC) == [
        "Domain-0 has 2048M of memory, xen_dom0_mem asks for 8192M",
        "Domain-0 has 2 vCPUs, xen_dom0_max_vcpus asks for 4",
    ]
    info = dict(converged_host().xen_info, virt_caps=frozenset({"hvm", "shadow"}))
    assert dom0.running_problems(converged_host(xen_info=info), SPEC) == [
        "the hypervisor does not offer hap (virt_caps: hvm shadow)",
    ]


@pytest.mark.parametrize(
    "op, kwargs",
    [
        (dom0.wired_memory, {}), (dom0.login_class, {}), (dom0.loader_conf, {"spec": SPEC}), (dom0.log_dir, {}),
        (dom0.rc_conf, {"spec": SPEC}), (dom0.xl_conf, {"spec": SPEC}),
    ],
)
def test_operations_record_their_effect_so_the_host_need_not_be_read_again(op, kwargs, monkeypatch):
    host = fresh_host()
    assert commands(op, host, monkeypatch, **kwargs)
    run_op(op, monkeypatch, dom0, "dom0_state", host, apply_records=True, **kwargs)
    # The recorded state is what the host now looks like: the operation has nothing left to do.
    assert commands(op, host, monkeypatch, **kwargs) == []


def test_an_outdated_xendomains_brings_nothing_back(monkeypatch):
    from facts.guests import AUTOSTART_SCRIPT
    from operations.guests import autostart_script

    spec = validate_dom0("x", {"xen_bridge_members": ["em0"], "xen_dom0_mem": "4G"})
    old_script = autostart_script().replace('XL="/usr/local/sbin/xl"', 'XL="xl"')
    host = dom0_with_guests("web", "db")
    outdated = dataclasses.replace(host, files={**host.files, AUTOSTART_SCRIPT: old_script})
    plan = dom0.reboot_plan_for(outdated, spec)
    assert plan.come_back == () and plan.stay_stopped == ("web", "db")
    assert "is missing or an older version" in plan.refusal
    current = dataclasses.replace(host, files={**host.files, AUTOSTART_SCRIPT: autostart_script()})
    assert dom0.reboot_plan_for(current, spec).refusal is None


def test_preflight_refuses_a_directory_where_a_managed_file_belongs_but_not_a_symlink():
    from facts.files import DIRECTORY, SYMLINK, FileRead

    host = fresh_host()
    broken = dataclasses.replace(host, files={**host.files, RC_CONF: FileRead(RC_CONF, DIRECTORY)})
    assert "/etc/rc.conf is a directory, not a regular file: refusing to replace it" in dom0.preflight_problems(
        broken, SPEC,
    )
    linked = dataclasses.replace(host, files={**host.files, RC_CONF: FileRead(RC_CONF, SYMLINK, b'hostname="x"\n')})
    assert dom0.preflight_problems(linked, SPEC) == []


def test_without_the_xendomains_script_the_guests_lose_power():
    from facts.dom0 import AUTOSTART_SCRIPT

    spec = validate_dom0("x", {"xen_bridge_members": ["em0"], "xen_reboot_stops_guests": True})
    host = dom0_with_guests("web")
    missing = dataclasses.replace(host, files={**host.files, AUTOSTART_SCRIPT: None})
    plan = dom0.reboot_plan_for(missing, spec)
    assert plan.lose_power and plan.refusal is None
    assert plan.summary() == "guest web loses power (no xendomains to stop it); stay stopped: web"


@pytest.mark.parametrize("sysctl_conf, limit", [("", 120), ("kern.init_shutdown_timeout=190\n", 190),
                                                ("kern.init_shutdown_timeout = 1\n", 120)])
def test_the_wait_for_the_host_includes_the_time_init_gives_the_guests_shutdown(sysctl_conf, limit):
    host = dataclasses.replace(converged_host(), files={**converged_host().files, SYSCTL_CONF: sysctl_conf})
    assert dom0.shutdown_limit(host) == limit


# The plan: what --dry and the change summary say, per host, in plain words.


@pytest.fixture
def plans(monkeypatch):
    from pyinfra.api.host import Host

    said: list[str] = []
    monkeypatch.setattr(Host, "log_styled", lambda self, message, **kw: said.append(message))
    return said


def test_the_plan_of_a_dom0_boot_change_names_the_word_and_the_reboot(monkeypatch, plans):
    spec = validate_dom0("x", {"xen_bridge_members": ["em0"], "xen_dom0_mem": "4096M"})
    commands(dom0.loader_conf, converged_host(), monkeypatch, spec=spec)
    assert plans == ["plan: loader.conf: xen_cmdline dom0_mem 8192M -> 4096M (takes a reboot)"]
    plans.clear()
    commands(dom0.reboot_into_xen, converged_host(), monkeypatch, spec=spec)
    assert plans[0] == (
        "plan: reboot: yes (shutdown -r now), because xen_cmdline changed (dom0_mem 8192M -> 4096M): "
        f'Xen runs with "{CMDLINE}", loader.conf now says "{spec.cmdline}"; no guest runs'
    )


def test_the_plan_of_a_first_run_says_each_change(monkeypatch, plans):
    commands(dom0.packages, fresh_host(), monkeypatch, spec=SPEC)
    commands(dom0.log_dir, fresh_host(), monkeypatch)
    assert plans == ["plan: packages: install xen-kernel xen-tools (pkg install)", "plan: /var/log/xen: made a 0755 directory"]


def test_a_converged_dom0_plans_nothing(monkeypatch, plans):
    for op, kwargs in [(dom0.loader_conf, {"spec": SPEC}), (dom0.reboot_into_xen, {"spec": SPEC}), (dom0.packages, {"spec": SPEC})]:
        commands(op, converged_host(), monkeypatch, **kwargs)
    assert plans == []


def test_a_freebsd_past_its_end_of_life_keeps_working_and_is_said_so(monkeypatch, plans):
    from spec.versions import end_of_life_note

    assert end_of_life_note("13.2-RELEASE", 13, "2026-04-29") is None
    assert end_of_life_note("13.2-RELEASE", 13, "2026-04-30").startswith(
        "FreeBSD 13.2-RELEASE reached its end of life on 2026-04-30: it keeps working here",
    )
    assert end_of_life_note("14.1-RELEASE", 14, "2030-01-01") is None
    from facts.dom0 import parse_freebsd_version

    thirteen = converged_host(release="13.2-RELEASE", freebsd_version=parse_freebsd_version("13.2-RELEASE"))
    monkeypatch.setattr(dom0, "date", type("FixedDate", (), {"today": staticmethod(lambda: __import__("datetime").date(2026, 11, 30))}))
    assert commands(dom0.packages, thirteen, monkeypatch, spec=SPEC) == []  # nothing to install: it works
    assert plans == [end_of_life_note("13.2-RELEASE", 13, "2026-11-30")]
