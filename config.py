"""
pyinfra reads this file from the repository root before it loads the inventory.
It validates the whole inventory's host data (each host's keys and the
fleet-wide rules) before pyinfra connects to any host: a host whose data has
problems is refused at connection, with plain messages, so nothing on it
changes; the other hosts go on.

The deploys run the same check themselves (deploys/support.py host_spec), so
the rules hold without this file too (``--config`` elsewhere, another working
directory, pyinfra's API); this file only refuses earlier, before any connection.
"""

from weakref import WeakKeyDictionary

from pyinfra.api.exceptions import ConnectError
from pyinfra.api.state import BaseStateCallback
from pyinfra.context import ctx_state

from spec.inventory import check_fleet

REFUSED = "invalid host data, nothing was changed on this host:"


class RefuseHostsWithInvalidData(BaseStateCallback):
    """
    Runs in each host's connect greenlet. An exception here would escape
    pyinfra's connect (it is raised before the connector's try) as a gevent
    traceback and stop every host, so a refused host's connector is made to
    raise ``ConnectError`` instead: pyinfra's own per-host failure, which
    prints the message under the host's name and fails that host alone.
    """

    # The inventory's check, once per run (each host's connect asks for it).
    checks: "WeakKeyDictionary" = WeakKeyDictionary()

    @staticmethod
    def host_before_connect(state, host):
        check = RefuseHostsWithInvalidData.checks.get(state)
        if check is None:
            check = check_fleet((h.name, h.data.dict()) for h in state.inventory)
            RefuseHostsWithInvalidData.checks[state] = check
        problems = check.problems.get(host.name)
        if problems:
            message = "\n    ".join((REFUSED, *problems))

            def refuse():
                raise ConnectError(message)

            host.connector.connect = refuse


def register_after_init(state):
    # State.init() (run after this file, once the inventory is loaded) starts a
    # fresh list of callback handlers, so register ours right after it.
    original_init = state.init

    def init(*args, **kwargs):
        original_init(*args, **kwargs)
        state.add_callback_handler(RefuseHostsWithInvalidData())

    state.init = init


register_after_init(ctx_state.get())
