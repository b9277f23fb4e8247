"""The guests deploy's fleet-level plan: arrivals, departures, stale configs, and what is not ours."""

from __future__ import annotations

import dataclasses

from operations.plan import plan_guests
from tests.unit.test_guest_ops import dom0, handbook_guest, running
from tests.unit.test_migrate import SHARED, NeverRead, fleet


def ours(state, *names):
    """The state with these guests' configs present and carrying our marker."""

    return dataclasses.replace(
        state,
        config_names=tuple(dict.fromkeys((*state.config_names, *names))),
        managed_configs=frozenset({*state.managed_configs, *names}),
    )


def admins(state, *names):
    """The state with these guests' configs present, written by someone else."""

    return dataclasses.replace(state, config_names=tuple(dict.fromkeys((*state.config_names, *names))))


GUEST = handbook_guest(installed=True)


def test_our_guest_declared_elsewhere_leaves_and_arrives_there():
    on_xen1 = ours(running(GUEST, cdrom=False), "freebsd")
    placement = fleet({"xen1": [], "xen2": [GUEST]}, {"xen1": on_xen1, "xen2": dom0()})
    leaving = plan_guests(placement, "xen1", [], on_xen1)
    assert [(name, target.name) for name, target in leaving.moves] == [("freebsd", "xen2")]
    assert leaving.problems == [] and leaving.moved_away == []
    arriving = plan_guests(placement, "xen2", [GUEST], dom0())
    assert arriving.arriving == {"freebsd": "xen1"}
    assert arriving.problems == []


def test_an_admins_domain_is_never_migrated_away_for_a_namesake():
    # xen1 runs a "freebsd" the admin created by hand; xen2 declares a guest of that name.
    on_xen1 = admins(running(GUEST, cdrom=False), "freebsd")
    placement = fleet({"xen1": [], "xen2": [GUEST]}, {"xen1": on_xen1, "xen2": dom0()})
    leaving = plan_guests(placement, "xen1", [], on_xen1)
    assert leaving.moves == []
    [message] = leaving.left_alone
    assert "xen2 declares a guest of that name" in message and "not migrated" in message
    # ... and xen2 does not start a second copy: it stops with the reason.
    arriving = plan_guests(placement, "xen2", [GUEST], dom0())
    assert arriving.arriving == {}
    [problem] = arriving.problems
    assert problem.startswith("guest freebsd: a domain of that name runs on xen1 and its config there was not written")


def test_a_domain_without_any_config_here_is_not_ours_either():
    on_xen1 = running(GUEST, cdrom=False)  # created from a config elsewhere, or removed since
    placement = fleet({"xen1": [], "xen2": [GUEST]}, {"xen1": on_xen1, "xen2": dom0()})
    assert plan_guests(placement, "xen1", [], on_xen1).moves == []


def test_our_stale_config_goes_an_admins_stays():
    shared = dom0(volumes={SHARED: object()})
    here = ours(dom0(volumes={SHARED: object()}), "freebsd")
    placement = fleet({"xen1": [], "xen2": [GUEST]}, {"xen1": here, "xen2": shared})
    assert plan_guests(placement, "xen1", [], here).moved_away == ["freebsd"]
    theirs = admins(dom0(volumes={SHARED: object()}), "freebsd")
    plan = plan_guests(fleet({"xen1": [], "xen2": [GUEST]}, {"xen1": theirs, "xen2": shared}), "xen1", [], theirs)
    assert plan.moved_away == []
    assert plan.left_alone == [
        "/usr/local/etc/xen/freebsd.cfg is for a guest that xen2 declares, but this project did not write it: "
        "kept (remove it by hand if it is stale)",
    ]


def test_a_config_whose_guest_left_its_disks_here_is_kept():
    here = ours(dom0(volumes={SHARED: object()}), "freebsd")
    placement = fleet({"xen1": [], "xen2": [GUEST]}, {"xen1": here, "xen2": dom0()})
    assert plan_guests(placement, "xen1", [], here).moved_away == []
    # the new Dom0 refuses to start it on blank disks, naming where the data is
    [problem] = plan_guests(placement, "xen2", [GUEST], dom0()).problems
    assert problem.startswith("guest freebsd is stopped on xen1, where its config is")


def test_a_config_of_a_guest_still_running_here_is_left_to_its_migration():
    here = ours(running(GUEST, cdrom=False), "freebsd")
    placement = fleet({"xen1": [], "xen2": [GUEST]}, {"xen1": here, "xen2": dom0(volumes={SHARED: object()})})
    plan = plan_guests(placement, "xen1", [], here)
    assert plan.moved_away == [] and [name for name, _ in plan.moves] == ["freebsd"]


def test_undeclared_domains_are_reported_and_transient_names_ignored():
    legacy = dataclasses.replace(
        running(GUEST, cdrom=False), domains=[
            *dom0().domains,
            dataclasses.replace(running(GUEST).domains[-1], name="legacy"),
            dataclasses.replace(running(GUEST).domains[-1], name="web--incoming"),
            dataclasses.replace(running(GUEST).domains[-1], name="(null)", domid=9),
        ],
    )
    plan = plan_guests(fleet({"xen1": []}, {"xen1": legacy}), "xen1", [], legacy)
    assert plan.left_alone == [
        "guest legacy runs here but is not declared: left alone (unmanaged)",
        "domain 9 has no name in xenstore (xl lists (null)): being destroyed, or a zombie if it stays; left alone"]
    assert plan.moves == [] and plan.problems == []


def test_a_converged_dom0_reads_no_other_dom0():
    here = ours(running(GUEST, cdrom=False), "freebsd")
    placement = fleet({"xen1": [GUEST]}, {"xen1": here})
    placement.dom0s["xen2"] = NeverRead("xen2", None, (), "xen2", "ssh")
    plan = plan_guests(placement, "xen1", [GUEST], here)
    assert plan == type(plan)()


def test_the_host_names_only_configs_that_begin_with_our_marker(tmp_path):
    import subprocess

    from facts.guests import XEN_CONFIG_DIR, managed_configs_command
    from spec.xlcfg import EARLIER_MARKERS, MANAGED_MARKER

    configs = tmp_path / "xen"
    configs.mkdir()
    (configs / "ours.cfg").write_text(f"{MANAGED_MARKER}\nname = \"ours\"\n")
    (configs / "older.cfg").write_text(EARLIER_MARKERS[0])  # no final newline
    (configs / "admins.cfg").write_text(f'name = "admins"\n{MANAGED_MARKER}\n')  # marker, but not first
    (configs / "crlf.cfg").write_text(f"{MANAGED_MARKER}\r\nname = \"crlf\"\r\n")
    (configs / "notes.txt").write_text(f"{MANAGED_MARKER}\n")
    command = managed_configs_command().replace(XEN_CONFIG_DIR, str(configs))
    listed = subprocess.run(["dash", "-c", command], capture_output=True, text=True, check=True).stdout
    assert sorted(listed.split()) == ["older.cfg", "ours.cfg"]

