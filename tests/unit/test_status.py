"""
The fleet status: its read (facts/status.py), the model and its rendering
(operations/status.py), and the pyinfra behaviour the report relies on
(operations/fleet_report.py).

xl outputs are the real Xen 4.17 captures in tests/fixtures/outputs/xen-4.17
(see its SOURCES.md). `xl uptime` has no capture there: its lines are built
from the printf formats of tools/xl/xl_misc.c (print_uptime, print_domU_uptime,
uptime_to_string), quoted in `uptime_line`.
"""

from __future__ import annotations

import copy
import inspect
import json
from pathlib import Path

import pytest

from facts.sections import framed
from facts.status import (
    GUEST_SECTIONS,
    HostStatus,
    StatusHost,
    Unreadable,
    parse_status_sections,
    parse_vnc_ports,
    parse_xl_uptime,
    status_commands,
    uptime_seconds,
)
from facts.xl import REDACTED, xl_list_long_command
from operations import fleet_report
from operations.status import fleet_status, render_json, render_table
from spec.guest import GuestSpec
from tests.cli_process import run_python

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "outputs" / "xen-4.17"
XL_LIST = (REAL / "xl_list.with_guest.txt").read_text()
XL_LONG = (REAL / "xl_list_long.pvh_guest.json").read_text()
XL_INFO = (REAL / "xl_info.txt").read_text()
RC_CONF = 'hostname="xen1"\nxendomains_enable="YES"\nxendomains_list="rxguest"\n'


def uptime_line(name: str, domid: int, seconds: int) -> str:
    # printf("%-33s %4d %s\n", domname, domuid, uptime_str) with uptime_to_string(uptime, 0):
    # "%d days, %2d:%02d:%02d" / "%d day, %2d:%02d:%02d" / "%2d:%02d:%02d"
    day, rest = divmod(seconds, 86400)
    hour, rest = divmod(rest, 3600)
    minute, sec = divmod(rest, 60)
    if day > 1:
        text = "%d days, %2d:%02d:%02d" % (day, hour, minute, sec)
    elif day == 1:
        text = "%d day, %2d:%02d:%02d" % (day, hour, minute, sec)
    else:
        text = "%2d:%02d:%02d" % (hour, minute, sec)
    return "%-33s %4d %s\n" % (name, domid, text)


# `xl uptime 1` (the status names the domUs: see test_xl_uptime_is_asked_for_the_domus_only)
XL_UPTIME = "%-33s %4s %s\n" % ("Name", "ID", "Uptime") + uptime_line("rxguest", 1, 65)


def rc_conf_section(text: str) -> str:
    """What facts.files.read_file_command prints for a regular file: its kind, then od's hex."""

    data = text.encode()
    rows = [" " + " ".join(f"{b:02x}" for b in data[i:i + 16]) for i in range(0, len(data), 16)]
    return "file\n" + "\n".join(rows) + "\n"


def outputs(**changes) -> dict[str, tuple[str, int]]:
    sections = {
        "xl_list": (XL_LIST, 0),
        "xl_long": (XL_LONG, 0),
        "xl_info": (XL_INFO, 0),
        "configs": ("rxguest.cfg\nxl.conf\n", 0),
        "managed": ("rxguest.cfg\n", 0),
        "file:/etc/rc.conf": (rc_conf_section(RC_CONF), 0),
        "sysctl": ("kern.osrelease=14.1-RELEASE-p5\nhw.ncpu=8\nhw.physmem=34253180928\n", 0),
        "uptime": (XL_UPTIME, 0),
        "vnc_ports": ("1 5900\n", 0),
    }
    sections.update(changes)
    return sections


def read(**changes) -> StatusHost:
    return HostStatus().process(framed(outputs(**changes)))


def guest(name="rxguest", **changes) -> GuestSpec:
    data = {"name": name, "memory": 128, "maxmem": 256, "vcpus": 1, "maxvcpus": 2, "type": "pvh",
            "disks": [{"file": "/vm/rxguest.img", "size": "1G"}], "vifs": [{"bridge": "bridge0", "mac": "00:16:3e:65:7e:03"}]}
    data.update(changes)
    return GuestSpec.model_validate(data)


SSH = {"xen1": ["ssh", "root@xen1"], "xen2": ["ssh", "-p", "2222", "root@xen2"]}


# The read ----------------------------------------------------------------------------


def test_the_read_is_one_command_of_the_guests_deploys_own_sections():
    from facts.guests import guests_commands

    commands = status_commands()
    guests = guests_commands((), (), ())
    assert {name: commands[name] for name in GUEST_SECTIONS} == {name: guests[name] for name in GUEST_SECTIONS}
    # passwords are redacted on the host, by facts.xl's command
    assert commands["xl_long"] == xl_list_long_command()
    assert isinstance(HostStatus().command(), str)


def test_parse_a_dom0():
    status = read()
    assert status.release == "14.1-RELEASE-p5" and status.ncpu == 8 and status.physmem_mib == 34253180928 // 2**20
    assert [d.name for d in status.guests.domains] == ["Domain-0", "rxguest"]
    assert status.uptimes == {"rxguest": 65}
    several = XL_UPTIME + uptime_line("db", 7, 3 * 86400 + 4 * 3600 + 5) + uptime_line("old", 9, 86400)
    assert read(uptime=(several, 0)).uptimes == {"rxguest": 65, "db": 273605, "old": 86400}
    assert status.vnc_ports == {1: 5900}
    assert status.guests.rc_conf["xendomains_list"] == "rxguest"


@pytest.mark.parametrize("text, seconds", [
    ("0:01:05", 65), (" 4:00:00", 14400), ("1 day,  2:03:04", 93784), ("12 days, 23:59:59", 12 * 86400 + 86399),
])
def test_uptime_forms(text, seconds):
    assert uptime_seconds(text) == seconds


def test_xl_uptime_is_asked_for_the_domus_only():
    # Without arguments xl starts with Domain-0's uptime, from /proc/uptime, which
    # FreeBSD has not: "Can not get Dom0 uptime.", exit status 255 (tools/xl print_dom0_uptime).
    import subprocess

    command = status_commands()["uptime"]
    assert "xl uptime $ids" in command and "xl uptime;" not in command
    fake_xl = (
        'xl() { case $1 in list) printf "%s\\n" "Name ID Mem VCPUs State Time(s)" '
        '"Domain-0 0 4096 2 r----- 10.0" "my guest 3 512 1 -b---- 1.5" "db 12 512 1 -b---- 1.5" ;; '
        'uptime) shift; echo "uptime of $*" ;; esac; }; '
    )
    done = subprocess.run(["sh", "-c", fake_xl + command], capture_output=True, text=True)
    assert done.stdout == "uptime of 3 12\n"
    empty = fake_xl.replace('"my guest 3 512 1 -b---- 1.5" "db 12 512 1 -b---- 1.5" ', "")
    assert subprocess.run(["sh", "-c", empty + command], capture_output=True, text=True).stdout == ""


def test_an_xl_uptime_line_that_does_not_parse_makes_the_host_unreadable():
    result = read(uptime=(XL_UPTIME + "garbage here\n", 0))
    assert isinstance(result, Unreadable) and "xl uptime" in result.reason
    with pytest.raises(Exception):
        parse_xl_uptime("Domain-0 0 yesterday\n")


def test_an_xl_without_uptime_leaves_uptime_unknown_not_the_host():
    status = read(uptime=("xl: unknown command 'uptime'\n", 1))
    assert status.uptimes is None and "unknown command" in status.uptime_error


def test_vnc_ports():
    assert parse_vnc_ports("1 5900\n3 -\n") == {1: 5900, 3: None}
    assert isinstance(read(vnc_ports=("1 port\n", 0)), Unreadable)


@pytest.mark.parametrize("changes, reason", [
    ({"sysctl": ("sysctl: not found\n", 127)}, "kern.osrelease"),
    ({"xl_long": ("libxl: error\n", 1)}, "xl list -l failed"),
    ({"xl_long": ("[{", 0)}, "cannot parse xl list -l"),
])
def test_reads_that_fail_closed(changes, reason):
    result = read(**changes)
    assert isinstance(result, Unreadable) and reason in result.reason


def test_a_cut_answer_is_unreadable():
    lines = framed(outputs())
    result = HostStatus().process(lines[: len(lines) // 2])
    assert isinstance(result, Unreadable)


# The model ---------------------------------------------------------------------------


def by_name(rows):
    return {row["name"]: row for row in rows}


def test_a_dom0_and_a_guest_as_declared():
    # The real capture's guest: target 128 MiB and 1 of 2 vCPUs in its live config
    # (xl list still shows 192 and 2: it had not followed yet). guest() declares that.
    model = fleet_status({"xen1": [guest()]}, {"xen1": read()}, SSH)
    [dom0] = model["dom0s"]
    assert (dom0["freebsd"], dom0["xen"], dom0["dom0_memory_mib"], dom0["dom0_vcpus"], dom0["free_memory_mib"],
            dom0["declared_memory_mib"]) == ("14.1-RELEASE-p5", "4.17.7", 512, 1, 1004, 128)
    row = by_name(model["guests"])["rxguest"]
    assert (row["declared_on"], row["running_on"], row["state"], row["memory_mib"], row["vcpus"],
            row["uptime_seconds"], row["autostart"], row["drift"]) == ("xen1", ["xen1"], "running", 192, 2, 65, True,
                                                                      [])


def test_drift_is_told_in_the_plans_words():
    from operations.drift import guest_drift

    current = read()
    declared = guest(memory=200, maxmem=512)
    row = by_name(fleet_status({"xen1": [declared]}, {"xen1": current}, SSH)["guests"])["rxguest"]
    drift = guest_drift(declared, current.guests.domain("rxguest"), current.guests.live_configs["rxguest"])
    assert drift.live_changes() and drift.restart  # memory live, maxmem with a restart
    assert row["drift"] == drift.live_changes() + [f"{item} (takes a restart)" for item in drift.restart]
    assert "maxmem 256M -> 512M (takes a restart)" in row["drift"]


def test_consoles_from_the_live_config():
    live = json.loads(XL_LONG)
    live[0]["config"]["b_info"]["type.hvm"] = {"vnc": {"enable": "True", "listen": "0.0.0.0", "passwd": REDACTED}}
    model = fleet_status({"xen2": [guest()]}, {"xen2": read(xl_long=(json.dumps(live), 0))}, SSH)
    console = by_name(model["guests"])["rxguest"]["consoles"]["xen2"]
    assert console["serial"] == "ssh -t -p 2222 root@xen2 xl console rxguest"
    assert console["vnc"]["tunnel"] == "ssh -N -L 5900:127.0.0.1:5900 -p 2222 root@xen2"
    assert console["vnc"]["viewer"] == "localhost:5900"
    # a port xenstore does not give is said to be unknown, with where to find it
    unknown = fleet_status({"xen2": [guest()]}, {"xen2": read(xl_long=(json.dumps(live), 0), vnc_ports=("1 -\n", 0))},
                           SSH)
    vnc = by_name(unknown["guests"])["rxguest"]["consoles"]["xen2"]["vnc"]
    assert vnc["port"] is None and "xenstore-read /local/domain/1/console/vnc-port" in vnc["hint"]
    # the PVH capture has no VNC at all
    plain = fleet_status({"xen1": [guest()]}, {"xen1": read()}, SSH)
    assert by_name(plain["guests"])["rxguest"]["consoles"]["xen1"]["vnc"] is None


def test_a_migrated_guest_an_unmanaged_domain_and_a_stopped_guest():
    model = fleet_status(
        {"xen1": [guest()], "xen2": [guest("idle", state="stopped")]},
        {"xen1": read(xl_list=(XL_LIST.split("rxguest")[0], 0), xl_long=("[]", 0)),
         "xen2": read(xl_list=(XL_LIST.replace("rxguest", "rogue") + XL_LIST.splitlines()[2].replace("1   192", "2   192")
                               + "\n", 0))},
        SSH,
    )
    rows = by_name(model["guests"])
    assert rows["rxguest"]["running_on"] == ["xen2"] and rows["rxguest"]["declared_on"] == "xen1"
    assert "runs on xen2, declared on xen1: deploys/guests.py moves it back" in rows["rxguest"]["drift"]
    assert rows["rogue"]["unmanaged"] and rows["rogue"]["running_on"] == ["xen2"]
    assert rows["idle"]["state"] == "not running" and rows["idle"]["drift"] == ["no config file on xen2"]
    assert model["dom0s"][1]["declared_memory_mib"] == 0  # idle is declared stopped


def test_nameless_domains_are_each_their_own_row_with_no_console():
    # xl lists a domain without a name in xenstore as "(null)": one libxl is destroying
    # (the real 4.17 showed one right after xl migrate returned) or zombies that stay
    # (fixtures/outputs/xl_list.null_domains.txt, from a Xen patch's report).
    dying = "(null)                                       2   128     1     --p--d       3.0\n"
    zombies = (Path(__file__).resolve().parents[1] / "fixtures" / "outputs" / "xl_list.null_domains.txt").read_text()
    model = fleet_status({"xen1": [guest()], "xen2": []},
                         {"xen1": read(xl_list=(XL_LIST + dying, 0)), "xen2": read(xl_list=(zombies, 0))}, SSH)
    nameless = [g for g in model["guests"] if g["name"] == "(null)"]
    assert [(g["running_on"], g["domid"], g["state"]) for g in nameless] == [
        (["xen1"], 2, "dying"), (["xen2"], 1, "paused"), (["xen2"], 2, "paused")]
    assert all(g["nameless"] and not g["unmanaged"] and not g["consoles"] and g["declared_on"] is None
               for g in nameless)
    assert "domain 2 has no name in xenstore" in nameless[0]["drift"][0]
    assert by_name(model["guests"])["rxguest"]["drift"] == []  # the guest is unaffected
    table = render_table(model)
    assert "xl console '(null)'" not in table and "xl console (null)" not in table
    assert [line.split()[1] for line in table.splitlines() if line.startswith("(null)")] == ["NAMELESS"] * 3


def test_an_unreadable_dom0_makes_what_may_run_there_unknown():
    model = fleet_status({"xen1": [guest()], "xen2": [guest("other")]},
                         {"xen1": Unreadable("cannot read kern.osrelease: sysctl: not found"), "xen2": None}, SSH)
    assert model["unreadable"] == ["xen1", "xen2"]
    rows = by_name(model["guests"])
    assert rows["rxguest"]["state"] == "unknown" and rows["other"]["state"] == "unknown"
    assert "not running" not in json.dumps(model)
    table = render_table(model)
    assert "UNREADABLE: cannot read kern.osrelease" in table and "UNKNOWN: what xen1, xen2" in table


def test_drift_in_words():
    running_elsewhere = fleet_status({"xen1": [guest(state="stopped")]}, {"xen1": read()}, SSH)
    assert "running (declared stopped)" in by_name(running_elsewhere["guests"])["rxguest"]["drift"]
    no_autostart = fleet_status({"xen1": [guest(autostart=False)]}, {"xen1": read()}, SSH)
    assert by_name(no_autostart["guests"])["rxguest"]["drift"] == ["autostart on (declared off)"]


def test_no_password_reaches_the_output():
    # The host redacts (facts.xl); were a password to slip through, the model copies none of the live config.
    live = json.loads(XL_LONG)
    live[0]["config"]["b_info"]["type.hvm"] = {"vnc": {"enable": "True", "listen": "127.0.0.1", "passwd": "hunter2"}}
    model = fleet_status({"xen1": [guest()]}, {"xen1": read(xl_long=(json.dumps(live), 0))}, SSH)
    assert "hunter2" not in render_table(model) + render_json(model)


def test_json_is_one_document_of_the_model():
    model = fleet_status({"xen1": [guest()]}, {"xen1": read()}, SSH)
    assert json.loads(render_json(model)) == json.loads(json.dumps(model))
    assert json.loads(render_json(model))["format"] == 1


def test_table_has_one_dom0_table_and_one_guest_table():
    text = render_table(fleet_status({"xen1": [guest()]}, {"xen1": read()}, SSH))
    assert [part.splitlines()[0] for part in text.split("\n\n")] == ["Dom0s", "Guests", "Consoles"]
    assert "rxguest on xen1:\n  serial: ssh -t root@xen1 xl console rxguest\n  VNC: none" in text


# The report, and the pyinfra behaviour it rests on ------------------------------------


def test_pyinfra_calls_host_disconnect_for_each_connected_host_at_the_end_of_the_run():
    """If pyinfra changes any of this, the status table is never printed: fail here, loudly."""

    from pyinfra.api.connect import disconnect_all
    from pyinfra.api.host import Host
    from pyinfra.api.state import BaseStateCallback, State

    assert hasattr(BaseStateCallback, "host_disconnect") and hasattr(State, "add_callback_handler")
    assert 'trigger_callbacks("host_disconnect", self)' in inspect.getsource(Host.disconnect)
    assert "host.disconnect" in inspect.getsource(disconnect_all)
    # pyinfra_cli monkey-patches whoever imports it: read the CLI's main in a child process
    main = run_python("""
        import inspect, json
        from pyinfra_cli import cli
        print(json.dumps(inspect.getsource(cli.cli.callback)))
    """)
    assert "finally:" in main and "disconnect_all(state)" in main.split("finally:")[1]
    assert "func(self, *args, **kwargs)" in inspect.getsource(State.trigger_callbacks)


def test_the_report_prints_once_on_stdout_at_the_first_disconnect(capsys):
    from pyinfra.api import Config, Inventory, State

    inventory = Inventory((["@local", "other"], {}))
    state = State(inventory, Config())
    report = fleet_report.report_for(state, render=lambda reads: "REPORT " + " ".join(sorted(reads)))
    assert fleet_report.report_for(state, render=lambda reads: "second") is report
    report.add("@local", copy.copy(read()))
    for host in inventory:
        state.trigger_callbacks("host_disconnect", host)
    captured = capsys.readouterr()
    assert captured.out == "REPORT @local\n" and captured.err == ""


def test_a_domain_name_cannot_drive_the_operators_terminal():
    hostile = XL_LIST.replace("rxguest", "evil\x1b[2J")
    model = fleet_status({"xen1": []}, {"xen1": read(xl_list=(hostile, 0), xl_long=("[]", 0))}, SSH)
    assert "evil\x1b[2J" in [g["name"] for g in model["guests"]]
    text = render_table(model)
    assert "\x1b" not in text and "evil?[2J" in text
    assert "\x1b" not in render_json(model)


def test_ssh_words_reach_a_dom0_as_pyinfra_does():
    from operations.status import ssh_words

    assert ssh_words("xen1.example.org", {}) == ["ssh", "xen1.example.org"]
    assert ssh_words("xen1", {"ssh_user": "root", "ssh_hostname": "192.0.2.10", "ssh_port": 2222,
                              "ssh_key": "/home/me/.ssh/xen"}) == [
        "ssh", "-p", "2222", "-i", "/home/me/.ssh/xen", "root@192.0.2.10"]


def test_the_vnc_ports_command_asks_xenstore_for_each_domu(tmp_path):
    import os
    import subprocess

    # xenstore-read is not a valid sh function name: a fake executable on PATH.
    fake = tmp_path / "xenstore-read"
    fake.write_text('#!/bin/sh\ncase $1 in /local/domain/3/console/vnc-port) echo 5901 ;; '
                    '*) echo "couldn\'t read path $1" >&2; exit 1 ;; esac\n')
    fake.chmod(0o755)
    xl = ('xl() { printf "%s\\n" "Name ID Mem VCPUs State Time(s)" "Domain-0 0 4096 2 r----- 10.0" '
          '"web 3 512 1 -b---- 1.5" "db 12 512 1 -b---- 1.5"; }; ')
    done = subprocess.run(["sh", "-c", xl + status_commands()["vnc_ports"]], capture_output=True, text=True,
                          env=dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}"))
    assert parse_vnc_ports(done.stdout) == {3: 5901, 12: None}


def test_a_dom0_not_read_is_not_called_unreadable():
    model = fleet_status({"xen1": [guest()], "xen2": []},
                         {"xen1": read(), "xen2": Unreadable("not read: outside --limit")}, SSH)
    text = render_table(model)
    assert "xen2  -" in text and "not read: outside --limit" in text and "UNREADABLE" not in text
    assert model["unreadable"] == ["xen2"]


def test_a_dom0_whose_xen_does_not_answer_is_read_and_says_so():
    # FreeBSD booted without Xen (before its first reboot into it): the host answered, xl did not.
    no_xen = (Path(__file__).resolve().parents[1] / "fixtures" / "outputs" / "xl_error.no_hypervisor.txt").read_text()
    status = read(xl_list=(no_xen, 1), xl_long=(no_xen, 1), xl_info=(no_xen, 1), uptime=("", 0), vnc_ports=("", 0))
    assert isinstance(status, StatusHost) and not status.guests.xl_works
    model = fleet_status({"xen1": [guest()]}, {"xen1": status}, SSH)
    [dom0] = model["dom0s"]
    assert dom0["readable"] and dom0["freebsd"] == "14.1-RELEASE-p5"
    assert dom0["error"].startswith("Xen does not answer: ") and dom0["xen"] is None
    # what runs there is not known: unknown, not "not running"
    assert by_name(model["guests"])["rxguest"]["state"] == "unknown"


def test_an_xl_uptime_that_fails_is_said_on_the_dom0_and_leaves_uptimes_unknown():
    status = read(uptime=("Can not get Dom0 uptime.\n", 255))
    model = fleet_status({"xen1": [guest()]}, {"xen1": status}, SSH)
    [dom0] = model["dom0s"]
    assert dom0["readable"] and dom0["error"] == "guests' uptime unknown: xl uptime: Can not get Dom0 uptime."
    assert by_name(model["guests"])["rxguest"]["uptime_seconds"] is None
    assert by_name(model["guests"])["rxguest"]["state"] == "running"  # the rest of the read stands
    absent = fleet_status({"xen1": [guest("other")]}, {"xen1": status}, SSH)
    assert by_name(absent["guests"])["other"]["state"] == "not running" and absent["unreadable"] == []
