"""
A deploy's operations as a list of steps, called as pyinfra operations only when
one of them has something to do on the host.

Each call of a pyinfra operation costs pyinfra far more than our operations'
own work: it parses the global arguments and walks the call stack to order the
operation, looking every frame's module up in ``sys.modules``. A converged Dom0
would pay that ten times, a Dom0 with fifty guests two hundred times, to learn
that nothing changes. So the steps are first tried against the cached read
(the operations' own code, with their messages held back); when none of them
would yield a command, the host gets one ``unchanged`` operation that repeats
what they said. Otherwise every step runs as its own operation, as written.

    from operations.steps import Step, run_steps
    run_steps(
        [Step(dom0.packages, "Xen packages", spec=spec), Step(dom0.log_dir, "/var/log/xen")],
        unchanged="Dom0 matches the host data",
    )

Operations report through ``noop``, ``warn``, ``plan`` and ``announce`` here
rather than ``host.noop``/``host.log``, so that a trial run says nothing twice.

``plan`` says in plain words what an operation will change on the host and how
(``guest web: memory 1024 -> 1536 MiB (live: xl mem-set)``), once per run: when
pyinfra works out the changes (``--dry``, and the change summary before a real
run), or, with ``-y``, as the run executes it. ``diff`` shows the lines of a file
that a write will change, with pyinfra's own ``--diff`` flag and diff printer.
"""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable, Sequence

from pyinfra import host, logger
from pyinfra.api import operation
from pyinfra.context import ctx_state
from pyinfra.operations.util.files import generate_color_diff

from .state import unproxied

# What each host's operations said during a trial run, kept per host because
# pyinfra prepares hosts concurrently in greenlets.
_trials: dict[Any, list[tuple[str, str]]] = {}

NOOP = "noop"
WARNING = "warning"
PLAN = "plan"
PLAN_PREFIX = "plan: "


class Step:
    """A pyinfra operation, the name it runs under and its arguments."""

    def __init__(self, operation: Callable, name: str, **kwargs: Any):
        self.operation = operation
        self.name = name
        self.kwargs = kwargs

    def run(self) -> None:
        self.operation(name=self.name, **self.kwargs)

    def would_change(self, said: list[tuple[str, str]]) -> bool:
        """Whether the operation would yield a command now; what it says instead goes to ``said``."""

        me = unproxied(host)
        _trials[me] = said
        commands = self.operation._inner(**self.kwargs)
        try:
            for _ in commands:
                return True
            return False
        finally:
            commands.close()
            del _trials[me]


def trial(steps: Sequence[Step]) -> list[tuple[str, str]] | None:
    """What the steps say when none would change the host, or None when one would."""

    said: list[tuple[str, str]] = []
    for step in steps:
        if step.would_change(said):
            return None
    return said


def run_steps(steps: Sequence[Step], unchanged: str) -> None:
    """
    Call every step as an operation if any has something to do, otherwise one
    operation named ``unchanged`` that reports what each step found.
    """

    said = trial(steps)
    if said is None:
        for step in steps:
            step.run()
    else:
        nothing_to_do(name=unchanged, said=said)


@operation()
def nothing_to_do(said: list[tuple[str, str]]):
    """
    Report, as one operation, what each step of a converged host found (the
    noops at ``-v``, warnings always).

    .. code:: python

        nothing_to_do(name="Dom0 matches the host data", said=[("noop", "/var/log/xen is a 0755 directory")])
    """

    for kind, message in said:
        if kind == NOOP:
            noop(message)
        elif kind == PLAN:
            plan(message)
        else:
            warn(message)
    return
    yield


# Messages from operations ----------------------------------------------------------------


def _trial_of_this_host() -> list[tuple[str, str]] | None:
    return _trials.get(unproxied(host))


def noop(reason: str) -> None:
    """``host.noop``, held back during a trial run."""

    said = _trial_of_this_host()
    if said is not None:
        said.append((NOOP, reason))
    else:
        host.noop(reason)


def warn(message: str, colour: str = "yellow") -> None:
    """
    A warning that goes with a noop (a reboot or a restart left pending), said
    once per run: pyinfra runs an operation's code when it works out changes
    (so ``--dry`` shows it) and again when it executes, unless ``-y`` skipped the
    first.
    """

    said = _trial_of_this_host()
    if said is not None:
        said.append((WARNING, message))
        return
    if said_once_per_run():
        host.log_styled(message, fg=colour, log_func=logger.warning)


def plans_first(func: Callable) -> Callable:
    """
    For an operation that may yield several changes: when pyinfra works out
    changes (``--dry``, the change summary), it stops an operation at its first
    command, so the ``plan`` and ``diff`` of the later changes would go unsaid.
    This runs the whole generator first then (no command runs at that stage);
    at execution, and in a trial, the operation runs as written.

        @operation()
        @plans_first
        def disks(guest, read): ...
    """

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any):
        run = ctx_state.get()
        if run.is_executing or _trial_of_this_host() is not None:
            yield from func(*args, **kwargs)
            return
        yield from list(func(*args, **kwargs))

    return wrapper


def said_once_per_run() -> bool:
    """
    Whether this run of an operation's code is the one that reports: pyinfra
    runs it when it works out changes (``--dry`` too) and again when it
    executes, unless ``-y`` skipped the first.
    """

    run = ctx_state.get()
    return run.is_executing != run.check_for_changes


def plan(change: str) -> None:
    """
    What the operation will change and how, in plain words, said before its
    commands: ``plan: guest web: vif 1 added (config only: awaits a restart)``.
    """

    said = _trial_of_this_host()
    if said is not None:
        said.append((PLAN, change))
        return
    if said_once_per_run():
        host.log_styled(PLAN_PREFIX + change, fg="cyan", log_func=logger.info)


def wants_diff() -> bool:
    """Whether ``diff`` would print now: with ``--diff``, outside a trial, once per run."""

    return _trial_of_this_host() is None and bool(ctx_state.get().config.DIFF) and said_once_per_run()


def diff(path: str, old: str | None, new: str) -> None:
    """
    With ``--diff`` (pyinfra's ``config.DIFF``), the lines of ``path`` that a
    write changes, printed as pyinfra's own ``files.put`` does (``Will modify``
    / ``Will create`` and ``generate_color_diff``), once per run. ``old`` and
    ``new`` must already have their secrets masked.
    """

    if not wants_diff():
        return
    host.log(f"Will {'create' if old is None else 'modify'} {path}", logger.info)
    for line in generate_color_diff((old or "").splitlines(True), new.splitlines(True)):
        logger.info("  %s", line)


def announce(message: str) -> None:
    """
    What an operation is about to do, said with its commands. A trial run stops
    at the first command, and the operation then runs for real: it is said then.
    """

    if _trial_of_this_host() is None and ctx_state.get().is_executing:
        host.log_styled(message, fg="blue", log_func=logger.info)
