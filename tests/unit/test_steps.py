"""
operations/steps.py: a converged host gets one operation, a host with work gets
every step, and a trial run says nothing itself.
"""

from __future__ import annotations

import pytest
from pyinfra.api import StringCommand, operation

from operations import steps
from operations.steps import NOOP, WARNING, Step, run_steps, trial
from tests.opsupport import fake_host

calls: list[str] = []


@operation()
def already_done(what: str):
    calls.append(what)
    steps.noop(f"{what} is done")
    return
    yield


@operation()
def pending_reboot():
    calls.append("reboot")
    steps.warn("REBOOT PENDING: Xen is not running yet")
    steps.noop("reboot pending")
    return
    yield


@operation()
def needs_work(what: str):
    calls.append(what)
    steps.announce(f"doing {what}")
    yield StringCommand("touch", what)


@operation()
def broken():
    raise RuntimeError("cannot decide")
    yield


@pytest.fixture(autouse=True)
def _reset():
    calls.clear()
    yield
    assert steps._trials == {}  # no trial outlives its step


@pytest.fixture
def said_to_host(monkeypatch):
    """What reached pyinfra's own noop and log calls."""

    heard: list[str] = []
    with fake_host() as host:
        monkeypatch.setattr(type(host), "noop", lambda self, reason: heard.append(f"noop: {reason}"))
        monkeypatch.setattr(type(host), "log_styled", lambda self, message, **kw: heard.append(f"log: {message}"))
        yield host, heard


def op_names(host) -> list[str]:
    state = host.state
    return [name for op_hash in host.op_hash_order for name in state.op_meta[op_hash].names]


def test_trial_of_converged_steps_keeps_what_they_say_in_order(said_to_host):
    host, heard = said_to_host
    said = trial([Step(already_done, "A", what="a"), Step(pending_reboot, "R"), Step(already_done, "B", what="b")])
    assert said == [
        (NOOP, "a is done"),
        (WARNING, "REBOOT PENDING: Xen is not running yet"),
        (NOOP, "reboot pending"),
        (NOOP, "b is done"),
    ]
    assert heard == []  # held back: the operation that reports them says them once
    assert host.op_hash_order == []  # no pyinfra operation was called


def test_trial_stops_at_the_first_step_with_a_command(said_to_host):
    host, heard = said_to_host
    result = trial([Step(already_done, "A", what="a"), Step(needs_work, "W", what="w"),
                    Step(already_done, "B", what="b")])
    assert result is None
    assert calls == ["a", "w"]  # b was not tried
    assert heard == []  # the announcement waits for the real run


def test_trial_lets_errors_through_and_leaves_no_trial_behind(said_to_host):
    with pytest.raises(RuntimeError, match="cannot decide"):
        trial([Step(already_done, "A", what="a"), Step(broken, "X")])


def test_converged_host_gets_one_operation_that_reports_every_step(said_to_host):
    host, heard = said_to_host
    run_steps([Step(already_done, "A", what="a"), Step(pending_reboot, "R")], unchanged="Dom0 matches the host data")
    assert op_names(host) == ["Dom0 matches the host data"]
    # pyinfra works out whether it changes anything (API mode checks for changes):
    # the report is said then, once.
    assert heard == ["noop: a is done", "log: REBOOT PENDING: Xen is not running yet", "noop: reboot pending"]
    assert not host.state.ops[host][host.op_hash_order[0]].operation_meta._maybe_is_change


def test_host_with_work_gets_every_step_as_its_own_operation(said_to_host):
    host, heard = said_to_host
    run_steps([Step(already_done, "A", what="a"), Step(needs_work, "W", what="w"), Step(pending_reboot, "R")],
              unchanged="Dom0 matches the host data")
    assert op_names(host) == ["A", "W", "R"]
    changes = [host.state.ops[host][h].operation_meta._maybe_is_change for h in host.op_hash_order]
    assert changes == [False, True, False]
    # said by the operations themselves; nothing from the trial is repeated
    assert heard == ["noop: a is done", "log: REBOOT PENDING: Xen is not running yet", "noop: reboot pending"]


def test_warnings_are_said_once_per_run(said_to_host):
    host, heard = said_to_host
    state = host.state
    with_changes_checked = [state.is_executing, state.check_for_changes]
    for executing, checking, said in [(False, True, True), (True, True, False), (True, False, True)]:
        heard.clear()
        state.is_executing, state.check_for_changes = executing, checking
        steps.warn("pending")
        assert heard == (["log: pending"] if said else []), (executing, checking)
    state.is_executing, state.check_for_changes = with_changes_checked


@operation()
def planned_work(what: str):
    steps.plan(f"{what}: memory 1024 -> 1536 MiB (live: xl mem-set)")
    yield StringCommand("xl", "mem-set", what, "1536m")


def test_the_plan_is_said_once_per_run_and_not_by_a_trial(said_to_host):
    host, heard = said_to_host
    assert trial([Step(planned_work, "P", what="web")]) is None
    assert heard == []  # the trial stopped at the command: the operation says it
    state = host.state
    with_changes_checked = [state.is_executing, state.check_for_changes]
    # --dry and the change summary (checking), then -y's execution, never both
    for executing, checking, said in [(False, True, True), (True, True, False), (True, False, True)]:
        heard.clear()
        state.is_executing, state.check_for_changes = executing, checking
        list(planned_work._inner(what="web"))
        assert heard == (["log: plan: web: memory 1024 -> 1536 MiB (live: xl mem-set)"] if said else [])
    state.is_executing, state.check_for_changes = with_changes_checked


def test_diff_uses_pyinfras_flag_and_printer(said_to_host, monkeypatch):
    host, heard = said_to_host
    printed: list[str] = []
    monkeypatch.setattr(steps.logger, "info", lambda fmt, *args: printed.append(fmt % args if args else fmt))
    monkeypatch.setattr(type(host), "log", lambda self, message, log_func=None: printed.append(message))
    steps.diff("/etc/rc.conf", 'a="1"\n', 'a="1"\nb="2"\n')
    assert printed == []  # without --diff
    host.state.config.DIFF = True
    steps.diff("/etc/rc.conf", 'a="1"\n', 'a="1"\nb="2"\n')
    assert printed[0] == "Will modify /etc/rc.conf"
    assert any('+ b="2"' in line for line in printed[1:]) and not any("- " in line for line in printed[1:])
    printed.clear()
    steps.diff("/etc/new.conf", None, "x\n")
    assert printed[0] == "Will create /etc/new.conf"


@operation()
@steps.plans_first
def two_changes():
    steps.plan("first change")
    yield StringCommand("true")
    steps.plan("second change")
    yield StringCommand("true")


def test_a_dry_run_says_every_change_of_an_operation_though_pyinfra_stops_at_its_first_command(said_to_host):
    host, heard = said_to_host
    state = host.state
    with_changes_checked = [state.is_executing, state.check_for_changes]
    state.is_executing, state.check_for_changes = False, True
    for _ in two_changes._inner():  # what pyinfra does when it works out changes
        break
    assert heard == ["log: plan: first change", "log: plan: second change"]
    heard.clear()
    state.is_executing, state.check_for_changes = True, False  # -y: said as it runs, in order
    generator = two_changes._inner()
    next(generator)
    assert heard == ["log: plan: first change"]
    state.is_executing, state.check_for_changes = with_changes_checked
