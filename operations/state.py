"""
A per-host cache for the composite facts, because pyinfra 3 caches no facts and
runs each operation twice (prepare, then execute).

The cache is valid until one of our operations changes the host: the
``changes_host`` decorator forgets it as soon as an operation yields a command at
execute time, so the next operation reads the host afresh. A converged run thus
reads each host once.

    from operations.state import read_state
    dom0 = read_state(host, Dom0State)
"""

from __future__ import annotations

from functools import wraps
from typing import Any
from weakref import WeakKeyDictionary

from pyinfra.api import FunctionCommand
from pyinfra.context import ContextObject, ctx_host, ctx_state

_cache: "WeakKeyDictionary[Any, dict[Any, Any]]" = WeakKeyDictionary()


def unproxied(obj):
    """The object itself (a Host, the Inventory), not pyinfra's context proxy: weakrefs and identity need it."""

    return obj._get_module() if isinstance(obj, ContextObject) else obj


def read_state(host, fact_cls, **kwargs):
    """The fact's value, read from the host once until something changes it."""

    host = unproxied(host)
    per_host = _cache.setdefault(host, {})
    key = (fact_cls, tuple(sorted(kwargs.items())))
    if key not in per_host:
        per_host[key] = host.get_fact(fact_cls, **kwargs)
    return per_host[key]


def forget_state(host) -> None:
    _cache.pop(unproxied(host), None)


def changes_host(func):
    """Operation generators wrapped with this invalidate the cache when they act."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        forgotten = False
        for command in func(*args, **kwargs):
            if not forgotten and ctx_state.get().is_executing:
                forget_state(ctx_host.get())
                forgotten = True
            yield command

    return wrapper


def record(patch) -> FunctionCommand:
    """
    For operations that know exactly what their commands do to the host (and
    so are not wrapped in ``changes_host``): a command that applies ``patch()``
    to the cached read once the commands before it have succeeded. It saves a
    full re-read of the host per change: a first run of 50 guests would read
    the host 120 times. If a command fails, the host fails and nothing is
    recorded.
    """

    def record_change(state, host) -> bool:
        patch()
        return True

    return FunctionCommand(record_change, (), {})


def forget_afterwards(other_host=None) -> FunctionCommand:
    """
    A command that drops the cached read of this host (or of ``other_host``):
    what came before changed too much to record.
    """

    def forget(state, host) -> bool:
        forget_state(other_host or host)
        return True

    return FunctionCommand(forget, (), {})
