"""
operations/state.py: no write is decided from a stale read. Any write forgets
every cached read of the host, whichever fact read it; a record keeps only the
read it patches; a read that fails stops that host's code, not the run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pyinfra.api import Config, FunctionCommand, Inventory, State, StringCommand
from pyinfra.context import ctx_host, ctx_state

from operations import state as cache
from operations.state import HostStopped, changes_host, forget_afterwards, read_state, record
from tests.opsupport import fake_host

OPERATIONS = Path(__file__).resolve().parents[2] / "operations"


class Dom0Read:
    pass


class GuestsRead:
    pass


@pytest.fixture
def host_with_two_reads(monkeypatch):
    with fake_host() as host:
        reads: list[type] = []

        def get_fact(fact_cls, **kwargs):
            reads.append(fact_cls)
            return fact_cls()  # each read of the host is a new object

        monkeypatch.setattr(host, "get_fact", get_fact)
        dom0, guests = read_state(host, Dom0Read), read_state(host, GuestsRead)
        assert (read_state(host, Dom0Read), read_state(host, GuestsRead)) == (dom0, guests)
        assert reads == [Dom0Read, GuestsRead]  # cached: one read each
        yield host, dom0, guests, reads


def execute(command: FunctionCommand, host) -> None:
    assert command.function(None, host) is True


def test_a_record_keeps_the_read_it_patches_and_forgets_every_other(host_with_two_reads):
    host, dom0, guests, reads = host_with_two_reads
    execute(record(lambda: setattr(dom0, "rc_conf", "new")), host)
    assert read_state(host, Dom0Read) is dom0 and dom0.rc_conf == "new"
    assert read_state(host, GuestsRead) is not guests  # read again: it may hold the old rc.conf
    assert reads == [Dom0Read, GuestsRead, GuestsRead]


def test_a_record_may_name_its_read(host_with_two_reads):
    host, dom0, guests, reads = host_with_two_reads
    execute(record(lambda: None, read=guests), host)
    assert read_state(host, GuestsRead) is guests
    assert read_state(host, Dom0Read) is not dom0


def test_forget_afterwards_forgets_everything(host_with_two_reads):
    host, dom0, guests, reads = host_with_two_reads
    execute(forget_afterwards(), host)
    assert read_state(host, Dom0Read) is not dom0 and read_state(host, GuestsRead) is not guests


def test_changes_host_forgets_every_read_at_its_first_command_when_executing(host_with_two_reads):
    host, dom0, guests, reads = host_with_two_reads

    @changes_host
    def op():
        yield StringCommand("true")

    list(op())  # preparing: nothing changed yet
    assert read_state(host, Dom0Read) is dom0
    ctx_state.get().is_executing = True
    try:
        list(op())
    finally:
        ctx_state.get().is_executing = False
    assert read_state(host, Dom0Read) is not dom0 and read_state(host, GuestsRead) is not guests


def test_a_failed_read_stops_the_host_quietly(monkeypatch):
    inventory = Inventory((["xen1", "xen2"], {}))
    state = State(inventory, Config())
    host = inventory.get_host("xen1")
    state.activated_hosts = set(inventory)
    state.active_hosts = set(inventory)
    with ctx_state.use(state), ctx_host.use(host):

        def failing_fact(fact_cls, **kwargs):
            return None  # what pyinfra returns after a fact's process raised (and the host failed)

        monkeypatch.setattr(host, "get_fact", failing_fact)
        with pytest.raises(HostStopped):
            read_state(host, Dom0Read)
        # A GreenletExit: pyinfra's `except Exception` around a host's deploy code lets it end that greenlet only.
        assert not issubclass(HostStopped, Exception)
        assert host in state.failed_hosts
        assert inventory.get_host("xen2") not in state.failed_hosts  # the other host goes on


def operation_functions(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            decorators = [ast.unparse(d) for d in node.decorator_list]
            if any(d.startswith("operation") for d in decorators):
                yield node, decorators


@pytest.mark.parametrize("module", sorted(p.name for p in OPERATIONS.glob("*.py")))
def test_every_operation_that_changes_the_host_forgets_or_records(module):
    """An operation yielding host commands without this would leave other reads stale."""

    tree = ast.parse((OPERATIONS / module).read_text())
    bookkeeping = {"record", "forget_afterwards", "write_if_changed", "atomic_write_commands"}
    unsafe = []
    for function, decorators in operation_functions(tree):
        yields = [node for node in ast.walk(function) if isinstance(node, (ast.Yield, ast.YieldFrom))]
        if all(isinstance(node, ast.Yield) and node.value is None for node in yields):
            continue  # an operation that only reports
        if "changes_host" in decorators:
            continue
        called = {ast.unparse(node.func) for node in ast.walk(function) if isinstance(node, ast.Call)}
        if not called & bookkeeping:
            unsafe.append(function.name)
    assert unsafe == [], f"{module}: wrap these in changes_host or yield record/forget_afterwards"


def test_the_cache_holds_nothing_for_a_host_it_never_read():
    with fake_host() as host:
        cache.forget_state(host)
        cache.forget_state(None)


def test_a_failed_read_of_another_dom0_stops_the_host_that_needed_it(monkeypatch):
    inventory = Inventory((["xen1", "xen2", "xen3"], {}))
    state = State(inventory, Config())
    xen1, xen2 = inventory.get_host("xen1"), inventory.get_host("xen2")
    state.activated_hosts = set(inventory)
    state.active_hosts = set(inventory)
    monkeypatch.setattr(xen2, "get_fact", lambda fact_cls, **kwargs: None)
    with ctx_state.use(state), ctx_host.use(xen1):
        with pytest.raises(HostStopped):
            read_state(xen2, Dom0Read)  # xen1 plans a migration to xen2, say
    assert {xen1, xen2} <= state.failed_hosts
    assert inventory.get_host("xen3") not in state.failed_hosts
