"""facts/pkgs.py and facts/zfs.py parsers."""

from pathlib import Path

import pytest

from facts.pkgs import XenPackages, parse_pkg_query
from facts.zfs import ZfsVolume, ZfsVolumes, parse_zfs_volumes

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"


def fixture(name: str) -> str:
    return (OUT / name).read_text()


def test_pkg_query():
    assert parse_pkg_query(fixture("pkg_query.format.txt")) == {
        "pkg": "1.21.3",
        "xen-kernel": "4.18.0",
        "xen-tools": "4.18.0_1",
        "qemu-tools": "8.2.2",
        "py311-setuptools": "63.1.0_1",
        "ca_root_nss": "3.101",
    }


def test_pkg_query_refuses_what_is_not_the_list():
    # blank lines are nothing; any other line that is not "name version" is an error, never skipped
    assert parse_pkg_query("\nxen-tools 4.18.0_1\n\n") == {"xen-tools": "4.18.0_1"}
    with pytest.raises(ValueError, match="unexpected pkg query line"):
        parse_pkg_query("pkg: No package(s) matching x\nxen-tools 4.18.0_1\n")


def test_the_dom0_read_tells_a_fresh_freebsd_without_pkg_from_a_failed_query():
    from facts.dom0 import packages_text
    from facts.pkgs import PKG_NOT_BOOTSTRAPPED, PKG_READ_COMMAND
    from facts.sections import ReadError, Section

    assert PKG_READ_COMMAND == ("if [ -x /usr/local/sbin/pkg ]; then pkg query '%n %v'; "
                                f"else (exit {PKG_NOT_BOOTSTRAPPED}); fi")
    assert packages_text(Section("", PKG_NOT_BOOTSTRAPPED)) == ""
    assert packages_text(Section("xen-tools 4.18.0_1\n", 0)) == "xen-tools 4.18.0_1\n"
    with pytest.raises(ReadError, match="pkg query failed: pkg: sqlite error"):
        packages_text(Section("pkg: sqlite error while executing ...", 1))


def test_xen_packages_fact():
    fact = XenPackages()
    assert fact.command() == "pkg query '%n %v'"
    assert fact.process(fixture("pkg_query.format.txt").splitlines()) == {
        "xen-kernel": "4.18.0",
        "xen-tools": "4.18.0_1",
    }
    assert fact.process([]) == {}


def test_zfs_volumes():
    volumes = parse_zfs_volumes(fixture("zfs_list_volumes.format.txt"))
    assert volumes == {
        "zroot/xendisk0": ZfsVolume("zroot/xendisk0", 21474836480, "dev"),
        "zroot/vm/freebsd-disk0": ZfsVolume("zroot/vm/freebsd-disk0", 10737418240, "default"),
        "zroot/vm/swap": ZfsVolume("zroot/vm/swap", 2147483648, "geom"),
    }
    assert volumes["zroot/xendisk0"].device == "/dev/zvol/zroot/xendisk0"


def test_zfs_dash_values_and_blank_lines():
    volumes = parse_zfs_volumes("\ntank/odd\t-\t-\n")
    assert volumes == {"tank/odd": ZfsVolume("tank/odd", 0, "-")}


def test_zfs_spaces_in_name_survive_tab_split():
    assert parse_zfs_volumes("tank/my disk\t1024\tdev\n")["tank/my disk"].volsize == 1024


def test_zfs_no_volumes_and_an_error_is_not_no_volumes():
    assert parse_zfs_volumes("") == {}
    # an answer that is not the table is never read as "no volumes" (the deploy would create them)
    with pytest.raises(ValueError, match="unexpected zfs list line"):
        parse_zfs_volumes("internal error: failed to initialize ZFS library\n")
    # where the token column was asked for, a line without it is not a complete volume
    assert parse_zfs_volumes("zroot/xen/a\t1073741824\tdev\t-\n", with_token=True)["zroot/xen/a"].complete
    with pytest.raises(ValueError, match="unexpected zfs list line"):
        parse_zfs_volumes("zroot/xen/a\t1073741824\tdev\n", with_token=True)


def test_zfs_fact():
    assert ZfsVolumes().command() == "zfs list -H -p -o name,volsize,volmode,receive_resume_token -t volume"
    assert ZfsVolumes().process(["zroot/xendisk0\t21474836480\tdev"]) == {
        "zroot/xendisk0": ZfsVolume("zroot/xendisk0", 21474836480, "dev"),
    }
