"""
pyinfra reads this file from the repository root before it loads the inventory.
It arranges for the whole inventory's host data to be validated before pyinfra
connects to any host, so bad data is refused with plain messages and nothing on
any host changes.
"""

from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.state import BaseStateCallback
from pyinfra.context import ctx_state

from spec.inventory import validate_inventory
from spec.schema import InventoryError


class ValidateInventoryBeforeConnecting(BaseStateCallback):
    validated: set[int] = set()

    @staticmethod
    def host_before_connect(state, host):
        if id(state) in ValidateInventoryBeforeConnecting.validated:
            return
        try:
            validate_inventory((h.name, h.data.dict()) for h in state.inventory)
        except InventoryError as error:
            raise PyinfraError("invalid host data, nothing was changed:\n  " + "\n  ".join(error.problems)) from None
        ValidateInventoryBeforeConnecting.validated.add(id(state))


def register_after_init(state):
    # State.init() (run after this file, once the inventory is loaded) starts a
    # fresh list of callback handlers, so register ours right after it.
    original_init = state.init

    def init(*args, **kwargs):
        original_init(*args, **kwargs)
        state.add_callback_handler(ValidateInventoryBeforeConnecting())

    state.init = init


register_after_init(ctx_state.get())
