"""
One report for the whole fleet, printed once at the end of the run.

pyinfra runs a deploy file once per host, each in its own greenlet, and has no
hook for "every host has been read". What it does have is state callbacks
(``pyinfra.api.state.BaseStateCallback``, registered with
``State.add_callback_handler``): ``host_disconnect`` fires for each connected
host when the run ends (``disconnect_all``, from the CLI's ``finally``, so also
after ``--dry``, a declined prompt or a run that failed), by which time every
deploy file has run. The first of them prints the report; hosts that were
never read (no connection, failed before their read) are in it as such.

This is the only module that relies on that pyinfra behaviour;
tests/unit/test_status.py fails if pyinfra stops providing it.

    report = fleet_report.report_for(state, render=lambda reads: text)
    report.add(host.name, read)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

import click
from pyinfra.api.state import BaseStateCallback

from .state import unproxied

_reports: "WeakKeyDictionary[Any, FleetReport]" = WeakKeyDictionary()


class FleetReport(BaseStateCallback):
    """Collects each host's read; prints ``render(reads)`` on stdout once, when pyinfra disconnects."""

    def __init__(self, render: Callable[[dict[str, Any]], str]):
        self.render = render
        self.reads: dict[str, Any] = {}
        self.printed = False

    def add(self, host_name: str, read: Any) -> None:
        self.reads[host_name] = read

    # pyinfra calls handler methods as handler.method(state, host) (State.trigger_callbacks).
    def host_disconnect(self, state, host) -> None:  # type: ignore[override]
        if self.printed:
            return
        self.printed = True
        # stdout: pyinfra logs on stderr, so `> status.json` gets the report alone.
        click.echo(self.render(dict(self.reads)))


def report_for(state, render: Callable[[dict[str, Any]], str]) -> FleetReport:
    """This run's report (made and registered by the first host that asks)."""

    state = unproxied(state)
    report = _reports.get(state)
    if report is None:
        report = _reports[state] = FleetReport(render)
        state.add_callback_handler(report)
    return report
