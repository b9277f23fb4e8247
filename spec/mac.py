"""
Stable MAC addresses for guest interfaces.

A guest's vif without an explicit ``mac`` must keep the same address across
re-renders, reboots and migrations, or DHCP leases and the guest's own interface
configuration break. So the address is derived, not random: SHA-256 over the
guest name and the vif index, placed in Xen's OUI 00:16:3e with
the top bit of the fourth octet cleared (00:16:3e:00:00:00-00:16:3e:7f:ff:ff is
the range Xen reserves for guests; the upper half is left to other uses).

    >>> stable_mac("freebsd", 0) == stable_mac("freebsd", 0)
    True
"""

from __future__ import annotations

import hashlib

XEN_OUI = (0x00, 0x16, 0x3E)


def stable_mac(guest_name: str, index: int) -> str:
    """``00:16:3e:xx:xx:xx`` for vif ``index`` of ``guest_name``."""

    if index < 0:
        raise ValueError(f"vif index must be >= 0, got {index}")
    # A NUL separator: ("ab", 1) and ("a", "b1") must not collide.
    material = "\0".join((guest_name, str(index))).encode("utf-8")
    digest = hashlib.sha256(material).digest()
    octets = (*XEN_OUI, digest[0] & 0x7F, digest[1], digest[2])
    return ":".join(f"{octet:02x}" for octet in octets)
