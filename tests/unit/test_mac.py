import hashlib
import re

import pytest

from spec.mac import stable_mac
from spec.names import check_mac


def test_format_and_xen_oui():
    mac = stable_mac("freebsd", 0)
    assert re.fullmatch(r"00:16:3e:[0-7][0-9a-f](:[0-9a-f]{2}){2}", mac)


def test_deterministic():
    assert stable_mac("freebsd", 0) == stable_mac("freebsd", 0)


def test_matches_sha256_definition():
    digest = hashlib.sha256(b"freebsd\x000").digest()
    expected = "00:16:3e:%02x:%02x:%02x" % (digest[0] & 0x7F, digest[1], digest[2])
    assert stable_mac("freebsd", 0) == expected


@pytest.mark.parametrize(
    "other",
    [("freebsd2", 0), ("freebsd", 1)],
)
def test_each_input_changes_the_address(other):
    assert stable_mac("freebsd", 0) != stable_mac(*other)


def test_no_concatenation_collision():
    assert stable_mac("a1", 1) != stable_mac("a", 11)


def test_top_bit_of_fourth_octet_always_clear_and_unicast():
    for index in range(500):
        mac = stable_mac(f"guest{index}", index)
        octets = [int(part, 16) for part in mac.split(":")]
        assert octets[:3] == [0x00, 0x16, 0x3E]
        assert octets[3] < 0x80
        # and the schema accepts it unchanged
        assert check_mac(mac) == mac


def test_spread():
    macs = {stable_mac("guest", index) for index in range(1000)}
    assert len(macs) == 1000


def test_negative_index_refused():
    with pytest.raises(ValueError, match="index"):
        stable_mac("freebsd", -1)
