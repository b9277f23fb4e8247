"""
A per-host cache for the composite facts, because pyinfra 3 caches no facts and
runs each operation twice (prepare, then execute).

A cached read is valid until one of our operations changes the host, and then
*every* cached read of that host goes, whichever fact read it (a Dom0 deploy's
rc.conf write must not leave the guests deploy's earlier read of rc.conf in the
cache): ``changes_host`` and ``forget_afterwards`` forget them all; ``record``
patches the reads its patch names (it knows what its commands did to them)
and forgets every other one. A converged run thus reads each host once, and
no write is ever decided from a stale read.

A read that fails (the host's answer cannot be parsed: see facts/sections.py)
fails that host with pyinfra's message; ``read_state`` then stops the code that
asked for it, quietly, so the other hosts go on.

    from operations.state import read_state
    dom0 = read_state(host, Dom0State)
"""

from __future__ import annotations

from functools import wraps
from typing import Any
from weakref import WeakKeyDictionary

from gevent import GreenletExit
from pyinfra import logger
from pyinfra.api import FunctionCommand
from pyinfra.context import ContextObject, ctx_host, ctx_state

_cache: "WeakKeyDictionary[Any, dict[Any, Any]]" = WeakKeyDictionary()


class HostStopped(GreenletExit):
    """
    Ends the deploy code or operation of a host whose read failed. pyinfra runs
    each host's deploy code and operations in a greenlet of its own and stops
    the whole run on any ``Exception`` from one; a ``GreenletExit`` ends only
    that greenlet, and the host is already marked failed.
    """


def unproxied(obj):
    """The object itself (a Host, the Inventory), not pyinfra's context proxy: weakrefs and identity need it."""

    return obj._get_module() if isinstance(obj, ContextObject) else obj


def _stop(host, fact_cls) -> None:
    state = ctx_state.get()
    current = unproxied(ctx_host.get()) if ctx_host.isset() else host
    stopped = {host, current}
    if current is not host:
        current.log_styled(
            f"stopped: the read of {host.name} ({fact_cls.__name__}) failed, see its error",
            fg="red",
            log_func=logger.error,
        )
    state.fail_hosts({h for h in stopped if h not in state.failed_hosts})
    raise HostStopped(f"{host.name}: {fact_cls.__name__} could not be read")


def read_state(host, fact_cls, **kwargs):
    """
    The fact's value, read from the host once until something changes it. If
    the read fails, the host has failed (pyinfra said why) and the calling
    deploy code or operation stops here.
    """

    host = unproxied(host)
    per_host = _cache.setdefault(host, {})
    key = (fact_cls, tuple(sorted(kwargs.items())))
    if key not in per_host:
        value = host.get_fact(fact_cls, **kwargs)
        # pyinfra hands back the fact's default, None, for a read that failed
        # (and fails the host). Whether the host failed meanwhile says nothing
        # about this read: its own deploy may have stopped it for its own
        # reasons while this greenlet waited for the answer.
        if value is None:
            _stop(host, fact_cls)
        per_host[key] = value
    return per_host[key]


def forget_state(host, keep=()) -> None:
    """Drop every cached read of ``host`` except the objects in ``keep``."""

    per_host = _cache.get(unproxied(host)) if host is not None else None
    if not per_host:
        return
    for key, value in list(per_host.items()):
        if not any(value is kept for kept in keep):
            del per_host[key]


def changes_host(func):
    """Operation generators wrapped with this forget every cached read of the host when they act."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        forgotten = False
        for command in func(*args, **kwargs):
            if not forgotten and ctx_state.get().is_executing:
                forget_state(ctx_host.get())
                forgotten = True
            yield command

    return wrapper


def _named_objects(patch) -> list[Any]:
    """What a patch function refers to: its closure's cells and default arguments."""

    named = [cell.cell_contents for cell in (getattr(patch, "__closure__", None) or ()) if _cell_full(cell)]
    named += list(getattr(patch, "__defaults__", None) or ())
    return named


def _cell_full(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def record(patch, read=None) -> FunctionCommand:
    """
    For operations that know exactly what their commands do to the host (and
    so are not wrapped in ``changes_host``): a command that applies ``patch()``
    to the cached read once the commands before it have succeeded, and forgets
    every other cached read of the host (it may hold what those commands just
    changed). The read patched is ``read``, or those the patch refers to. It
    saves a full re-read of the host per change: a first run of 50 guests would
    read the host 120 times. If a command fails, the host fails and nothing is
    recorded.
    """

    def record_change(state, host) -> bool:
        kept = [read] if read is not None else _named_objects(patch)
        forget_state(host, keep=kept)
        patch()
        return True

    return FunctionCommand(record_change, (), {})


def forget_afterwards(other_host=None) -> FunctionCommand:
    """
    A command that drops every cached read of this host (or of ``other_host``):
    what came before changed too much to record.
    """

    def forget(state, host) -> bool:
        forget_state(other_host or host)
        return True

    return FunctionCommand(forget, (), {})
