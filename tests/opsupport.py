"""
Running an operation's generator against given facts, without a host: the
composite read is replaced by the state under test, and the yielded commands
are returned as text.
"""

from __future__ import annotations

from contextlib import contextmanager

from pyinfra.api import Config, FileUploadCommand, FunctionCommand, Inventory, State, StringCommand
from pyinfra.context import ctx_host, ctx_state


# Steps that only keep the cached read of the host up to date.
BOOKKEEPING = {"record_change", "forget"}


@contextmanager
def fake_host(name: str = "xen1.example.org"):
    inventory = Inventory(([name], {}))
    state = State(inventory, Config())
    host = inventory.get_host(name)
    with ctx_state.use(state), ctx_host.use(host):
        yield host


def run_op(op, monkeypatch, reader_module, reader_name, current, apply_records=False, **kwargs) -> list[str]:
    """
    The commands ``op`` yields for ``current``, as readable strings. Steps that
    only record a change in the cached read are not host commands: they are
    left out, and applied to ``current`` when ``apply_records`` is true.
    """

    monkeypatch.setattr(reader_module, reader_name, lambda *a, **k: current)
    commands = []
    with fake_host():
        for command in op._inner(**kwargs):
            if isinstance(command, FunctionCommand) and command.function.__name__ in BOOKKEEPING:
                if apply_records and command.function.__name__ == "record_change":
                    command.function(None, None)
                continue
            if isinstance(command, StringCommand):
                commands.append(command.get_raw_value())
            elif isinstance(command, FileUploadCommand):
                commands.append(f"upload {command.dest}: " + command.src.getvalue().decode())
            elif isinstance(command, FunctionCommand):
                commands.append(f"function {command.function.__name__}")
    return commands
