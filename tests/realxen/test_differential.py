"""The differential report's rules (tests/realxen/differential.py) and the prerequisite check, without a VM."""

import json
from pathlib import Path

import pytest

from tests.realxen import image
from tests.realxen.differential import compare, explanation, normalise_text, report

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "outputs" / "xen-4.17" / "scenario.json"


def step(step_id="x", rc=0, stdout="", stderr="", domains=None, command="xl create /usr/local/etc/xen/a.cfg"):
    return {"id": step_id, "command": command, "rc": rc, "stdout": stdout, "stderr": stderr,
            "domains": domains or [], "parsed": None}


def test_only_domids_uuids_times_and_source_lines_are_normalised():
    text = ("libxl: error: libxl_create.c:1294:initiate_domain_create: Domain 7:cannot make domain: -6\n"
            "uuid 0f3c2b9e-1a2b-4c5d-8e9f-001122334455\n"
            "rxguest                                      12   192     2     -b----      14.9\n")
    assert normalise_text(text) == (
        "libxl: error: libxl_create.c:<line>:initiate_domain_create: Domain <domid>:cannot make domain: -6\n"
        "uuid <uuid>\n"
        "rxguest <id>   192     2     ~~---- <time>\n"
    )
    # Memory, vCPUs, the state letters xl sets and words are left alone.
    assert normalise_text("rxguest   3   192     2     --ps--      1.0") != normalise_text(
        "rxguest   3   128     2     --ps--      1.0")
    assert normalise_text("rxguest   3   192     2     -b----      1.0") != normalise_text(
        "rxguest   3   192     2     --p---      1.0")


def test_running_or_blocked_is_the_schedulers_instant_not_a_difference():
    # m07 on a real Xen: the guest just resumed after the cut was on a CPU when xl looked
    caught_running = "rxmove                                       4   128     1     r-----       3.1\n"
    caught_blocked = "rxmove                                       2   128     1     -b----       0.9\n"
    assert normalise_text(caught_running) == normalise_text(caught_blocked)
    assert normalise_text(caught_running) != normalise_text(caught_running.replace("r-----", "r---d-"))


def test_a_different_exit_status_is_an_unexplained_difference():
    text, unexplained = report([step(rc=3)], [step(rc=1)], explained=[])
    assert unexplained == 1 and "[UNEXPLAINED] step x, rc" in text


def test_results_of_another_scenario_version_are_a_difference():
    differences = compare([step(command="xl create a")], [step(command="xl create b")])
    assert [d["field"] for d in differences] == ["command"]


def test_ignore_lines_excuse_only_the_lines_they_name():
    entry = {"step": "x", "field": "stderr", "ignore_lines": ["vif-bridge"], "reason": "hotplug scripts differ"}
    real = "Parsing\n/etc/xen/scripts/vif-bridge online failed\nNon-existant domain\n"
    only_script = {"step": "x", "field": "stderr", "real": real, "sim": "Parsing\nvif-bridge FreeBSD\nNon-existant domain\n"}
    assert explanation(only_script, [entry]) == "hotplug scripts differ"
    also_missing_line = {"step": "x", "field": "stderr", "real": real, "sim": "Parsing\nvif-bridge FreeBSD\n"}
    assert explanation(also_missing_line, [entry]) is None


def test_the_real_scenario_fixture_differs_from_a_yes_machine():
    real = json.loads(REAL.read_text())
    yes_machine = [{**s, "rc": 0, "stderr": ""} for s in real]
    _, unexplained = report(real, yes_machine)
    assert unexplained >= 5  # every refusal of the real xl shows up


def test_a_missing_package_names_the_command_that_installs_it(monkeypatch):
    monkeypatch.setattr(image, "PACKAGES", ("busybox-static", "no-such-package-realxen"))
    with pytest.raises(image.MissingPrerequisite) as error:
        image.package_versions()
    assert "no-such-package-realxen" in str(error.value) and "./run realxen" in str(error.value)


def test_the_harness_builds_the_migration_as_the_product_does():
    # run on every ./run tests: the real-Xen run is not in every CI run, and a harness that
    # cannot build its commands would only show there
    import inspect

    from operations.migrate import live_migrate
    from tests.realxen.migration import operation_command

    harness = operation_command("mover", "ssh -p 2222", "xen2")
    assert harness == "xl migrate -s 'ssh -p 2222 -o BatchMode=yes -o ConnectTimeout=10' mover xen2"
    assert "yield migrate_command(guest_name, target.ssh_command, target.address)" in inspect.getsource(
        live_migrate._inner.__wrapped__)


def test_a_nameless_domain_is_not_among_the_domains_compared():
    # the real 4.17 sender, right after xl migrate returned: the destroyed guest not yet gone
    from tests.realxen.scenario import named_domains

    text = ("Name                                        ID   Mem VCPUs\tState\tTime(s)\n"
            "Domain-0                                     0   512     1     r-----      31.3\n"
            "(null)                                       1   128     1     --p--d       3.0\n"
            "rxmove                                       2   128     1     -b----       0.4\n")
    assert [d.name for d in named_domains(text)] == ["Domain-0", "rxmove"]


XL_LOGS_POWEROFF = (Path(__file__).resolve().parents[1] / "fixtures" / "outputs" / "xen-4.17"
                    / "xl_logs.poweroff_and_destroy.txt")
XL_LOGS_REBOOT = Path(__file__).resolve().parents[1] / "fixtures" / "outputs" / "xen-4.17" / "xl_logs.reboot.txt"


def test_shutdowns_the_scenario_asked_for_do_not_disturb_a_run():
    from tests.realxen.disturbed import guests_own_shutdowns

    # the real 4.17 after a whole scenario: xl shutdown (reason 0) and xl destroy
    assert guests_own_shutdowns(XL_LOGS_POWEROFF.read_text()) == []
    migrated = "== xen1:/var/log/xen/xl-rxmove.log\nDomain 2 has shut down, reason code 2 0x2\nDomain has suspended.\n"
    assert guests_own_shutdowns(migrated) == []


def test_a_guest_that_rebooted_on_its_own_is_named_with_xls_own_log_line():
    from tests.realxen.disturbed import guests_own_shutdowns

    found = guests_own_shutdowns(XL_LOGS_REBOOT.read_text())
    assert len(found) == 1
    assert found[0].startswith("/var/log/xen/xl-rxguest.log: domain ") and " rebooted (" in found[0]
    assert "reason code 1 0x1" in found[0]
    crashed = "== xen2:/var/log/xen/xl-rxmove.log\nDomain 5 has shut down, reason code 3 0x3\n"
    assert guests_own_shutdowns(crashed) == [
        "xen2:/var/log/xen/xl-rxmove.log: domain 5 crashed ('Domain 5 has shut down, reason code 3 0x3')"]


def test_a_disturbed_run_is_run_again_and_twice_disturbed_fails(capsys):
    from tests.realxen.disturbed import GuestsDisturbed, run_undisturbed

    reboot, clean = XL_LOGS_REBOOT.read_text(), XL_LOGS_POWEROFF.read_text()
    attempts = iter([("first", reboot), ("second", clean)])
    assert run_undisturbed(lambda: next(attempts), "the scenario") == "second"
    out = capsys.readouterr().out
    assert "attempt 1: the guest's own doing, not xl's" in out and "running it again" in out

    assert run_undisturbed(lambda: ("only", clean), "the scenario") == "only"
    with pytest.raises(GuestsDisturbed, match="in all 2 attempts"):
        run_undisturbed(lambda: ("again", reboot), "the scenario")


def test_xl_logs_are_labelled_with_their_vm_and_a_stopped_vm_is_said_so():
    from types import SimpleNamespace

    from tests.realxen.disturbed import guests_own_shutdowns
    from tests.realxen.targets import RealTarget
    from tests.realxen.vm import Result

    running = SimpleNamespace(poll=lambda: None)
    vm = SimpleNamespace(name="xen2", sock=object(), proc=running,
                         run=lambda command: Result(0, XL_LOGS_REBOOT.read_text(), ""))
    logs = RealTarget(vm).xl_logs()
    assert logs.startswith("== xen2:/var/log/xen/xl-rxguest.log\n")
    assert guests_own_shutdowns(logs)[0].startswith("xen2:/var/log/xen/xl-rxguest.log: domain 1 rebooted")
    never_started = SimpleNamespace(name="xen1", sock=None, proc=None)
    assert RealTarget(never_started).xl_logs() == "(xl's logs unreadable: xen1 is not running)\n"
