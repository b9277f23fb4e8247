"""
facts/xl.py (and what operations read through it) on outputs of the real xl of
Xen 4.17.7, captured by tests/realxen (sources: tests/fixtures/outputs/xen-4.17/SOURCES.md).
"""

import json
from pathlib import Path

from facts.xl import parse_xl_info, parse_xl_list, parse_xl_list_long
from operations.drift import guest_drift, live_disks, live_vifs, desired_disks, desired_vifs
from tests.realxen.scenario import OBEDIENT

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "outputs" / "xen-4.17"


def fixture(name: str) -> str:
    return (REAL / name).read_text()


def scenario_step(step_id: str) -> dict:
    steps = json.loads(fixture("scenario.json"))
    return next(step for step in steps if step["id"] == step_id)


def test_xl_info_of_real_xen_4_17():
    info = parse_xl_info(fixture("xl_info.txt"))
    assert (info["xen_major"], info["xen_minor"], info["xen_extra"], info["xen_version"]) == (4, 17, ".7", "4.17.7")
    # "2599.998" in the output: whole MHz, an int
    assert info["cpu_mhz"] == 2599
    assert info["nr_cpus"] == 2 and info["total_memory"] == 1535 and isinstance(info["free_memory"], int)
    assert info["virt_caps"] == frozenset({"pv", "hvm", "gnttab-v1", "gnttab-v2"})
    assert "xen-3.0-x86_64" in info["xen_caps"] and "hvm-3.0-x86_64" in info["xen_caps"]
    # An empty value (xen_changeset) is kept as "", not dropped and not a parse failure.
    assert info["xen_changeset"] == ""
    assert info["xen_commandline"].startswith("dom0_mem=512M,max:512M ")


def test_xl_list_of_real_xen_dom0_only():
    text = fixture("xl_list.txt")
    assert "VCPUs\tState\tTime(s)" in text.splitlines()[0]
    [dom0] = parse_xl_list(text)
    assert (dom0.name, dom0.domid, dom0.mem_mib, dom0.vcpus, dom0.state_flags) == ("Domain-0", 0, 512, 1, "r-----")
    assert dom0.running


def test_xl_list_of_real_xen_with_a_guest_after_mem_set_and_vcpu_set():
    domains = parse_xl_list(fixture("xl_list.with_guest.txt"))
    assert [d.name for d in domains] == ["Domain-0", "rxguest"]
    guest = domains[1]
    assert (guest.domid, guest.mem_mib, guest.vcpus) == (1, 192, 2)
    assert guest.state <= {"running", "blocked"} and not guest.paused


def test_xl_list_long_of_real_dom0():
    entries = parse_xl_list_long(fixture("xl_list_long.json"))
    assert list(entries) == ["Domain-0"]
    dom0 = entries["Domain-0"]
    assert dom0["domid"] == 0
    build = dom0["config"]["b_info"]
    assert (build["max_memkb"], build["target_memkb"]) == (524288, 524287)
    # libxl leaves out what is unset: the Dom0 has no max_vcpus here.
    assert "max_vcpus" not in build
    assert "disks" not in dom0["config"] and "nics" not in dom0["config"]


def test_xl_list_long_of_a_real_pvh_guest_made_from_our_config():
    entries = parse_xl_list_long(fixture("xl_list_long.pvh_guest.json"))
    config = entries["rxguest"]["config"]
    assert config["c_info"]["type"] == "pvh"
    assert config["b_info"]["max_memkb"] == 256 * 1024 and config["b_info"]["max_vcpus"] == 2
    assert live_disks(config) == desired_disks(OBEDIENT) == [("xvda", "/vm/rxguest.img", False)]
    assert live_vifs(config) == desired_vifs(OBEDIENT)


def test_a_real_guest_created_from_its_declaration_has_no_drift():
    live = parse_xl_list_long(fixture("xl_list_long.pvh_guest.json"))["rxguest"]
    drift = guest_drift(OBEDIENT, None, live)
    assert drift.restart == [] and drift.live_commands("rxguest") == []


def test_a_real_guest_after_mem_set_and_vcpu_set_is_brought_back_live():
    # xl list -l right after `xl mem-set rxguest 192m` and `xl vcpu-set rxguest 2`:
    # the targets show there at once (xl list follows when the guest does).
    live = parse_xl_list_long(fixture("xl_list_long.pvh_guest_after_sets.json"))["rxguest"]
    build = live["config"]["b_info"]
    assert build["target_memkb"] == 192 * 1024 and build["max_memkb"] == 256 * 1024
    domain = parse_xl_list(fixture("xl_list.with_guest.txt"))[1]
    drift = guest_drift(OBEDIENT, domain, live)
    assert drift.restart == []
    assert drift.live_commands("rxguest") == ["xl mem-set rxguest 128m", "xl vcpu-set rxguest 1"]


def test_a_real_guest_still_taking_up_its_new_memory_is_not_given_it_again():
    # xl list lags the target (the balloon driver takes seconds, or never acts):
    # the listing says 128 MiB/1 vCPU while xl list -l already has 192 MiB/2.
    live = parse_xl_list_long(fixture("xl_list_long.pvh_guest_after_sets.json"))["rxguest"]
    lagging = parse_xl_list(fixture("xl_list.with_guest.txt"))[1]
    lagging = type(lagging)(**{**lagging.__dict__, "mem_mib": 128, "vcpus": 1})
    wanted = OBEDIENT.model_copy(update={"memory": 192, "vcpus": 2})
    drift = guest_drift(wanted, lagging, live)
    assert drift.restart == [] and drift.live_commands("rxguest") == []


def test_drift_sees_a_real_guest_declared_with_other_maxima():
    live = parse_xl_list_long(fixture("xl_list_long.pvh_guest.json"))["rxguest"]
    bigger = OBEDIENT.model_copy(update={"maxmem": 512, "maxvcpus": 4})
    drift = guest_drift(bigger, None, live)
    assert drift.restart == ["maxmem 256M -> 512M", "maxvcpus 2 -> 4"]
