"""
pyinfra reads this file from the repository root before it loads the inventory.
It registers the inventory validation so that bad host data is refused with
plain messages before any connection is made (and so before anything changes).
"""

from pyinfra import state
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.state import BaseStateCallback

from spec.inventory import validate_inventory
from spec.schema import InventoryError


class ValidateInventoryBeforeConnecting(BaseStateCallback):
    validated_for: set[int] = set()

    @staticmethod
    def host_before_connect(state, host):
        if id(state) in ValidateInventoryBeforeConnecting.validated_for:
            return
        try:
            validate_inventory((h.name, h.data.dict()) for h in state.inventory)
        except InventoryError as error:
            raise PyinfraError("invalid host data, nothing was changed:\n  " + "\n  ".join(error.problems)) from None
        ValidateInventoryBeforeConnecting.validated_for.add(id(state))


state.add_callback_handler(ValidateInventoryBeforeConnecting())
