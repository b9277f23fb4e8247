"""Simulated FreeBSD hosts (Xen Dom0 phase) served over real OpenSSH for pyinfra tests.

    from simhost import Fleet
    with Fleet() as fleet:
        fleet.add("xen1", "freebsd14")
        fleet.start()
        fleet.write_inventory("inventory.py")

See docs/DESIGN.md ("Simulated host contract") and `python -m simhost --help`.
"""

from .fleet import Fleet
from .host import SimHost
from .variants import VARIANTS, Variant, get_variant

__all__ = ["Fleet", "SimHost", "VARIANTS", "Variant", "get_variant"]
