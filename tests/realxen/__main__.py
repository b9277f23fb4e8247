"""
The real Xen as a test target (issue 11). Run as ``./run realxen [command]``:

    all        (default) boot one VM, the scenario on real xl, the same on
               simhost's xl, the differential report, then xl migrate
               between two VMs; exits 1 on any failure or unexplained difference
    one-vm     the same without the migration part (one VM at a time)
    boot       boot one VM, print xl info / xl list / xl list -l;
               --save-fixtures writes them to tests/fixtures/outputs/xen-4.17/
    scenario   the scenario on real xl (saves its results)
    sim        the scenario on simhost's xl (saves its results)
    diff       the differential report from the saved results of both (exit 1
               on a difference not explained in tests/realxen/explained.json)
    migrate    the two-VM migration scenario on real Xen
    sim-migrate  the same on two simhost Dom0s

A real run in which a guest rebooted or crashed on its own (xl's per-domain
logs say so) is run once more on fresh VMs; nothing of it is compared.

Results (JSON) and the VMs' serial logs go to $REALXEN_CACHE/results
(default /var/cache/pyinfra-freebsd-xen/realxen/results).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.realxen import image  # noqa: E402
from tests.realxen.disturbed import GuestsDisturbed, run_undisturbed  # noqa: E402
from tests.realxen.vm import RealXenVM  # noqa: E402

RESULTS = image.CACHE_ROOT / "results"
FIXTURES = REPO / "tests" / "fixtures" / "outputs" / "xen-4.17"


def _save(name: str, data) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def _boot(name: str = "xa", **kwargs) -> RealXenVM:
    started = time.monotonic()
    directory = image.images()
    print(f"realxen: images in {directory} ({time.monotonic() - started:.0f}s)", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    vm = RealXenVM(name, directory, log_dir=RESULTS, **kwargs)
    (RESULTS / f"{name}.serial.log").unlink(missing_ok=True)
    seconds = vm.start()
    print(f"realxen: {name} booted to a Dom0 shell with xl working in {seconds:.0f}s", flush=True)
    return vm


def cmd_boot(args) -> int:
    from facts.xl import parse_xl_info, parse_xl_list, parse_xl_list_long

    vm = _boot()
    try:
        outputs = {
            "xl_info.txt": vm.run("xl info"),
            "xl_list.txt": vm.run("xl list"),
            "xl_list_long.json": vm.run("xl list -l"),
        }
        for name, res in outputs.items():
            print(f"--- {name} (rc {res.rc})\n{res.stdout}{res.stderr}", end="")
            if res.rc:
                return 1
        info = parse_xl_info(outputs["xl_info.txt"].stdout)
        domains = parse_xl_list(outputs["xl_list.txt"].stdout)
        long = parse_xl_list_long(outputs["xl_list_long.json"].stdout)
        print(f"realxen: parsed: Xen {info['xen_major']}.{info['xen_minor']}, domains {[d.name for d in domains]}, "
              f"xl list -l {sorted(long)}")
        if args.save_fixtures:
            FIXTURES.mkdir(parents=True, exist_ok=True)
            for name, res in outputs.items():
                (FIXTURES / name).write_text(res.stdout)
            print(f"realxen: fixtures written to {FIXTURES}")
    finally:
        vm.stop()
    return 0


def cmd_scenario(args) -> int:
    started = time.monotonic()
    data = run_undisturbed(_real_scenario_once, "the scenario on real xl")
    print(f"realxen: scenario on real xl done {time.monotonic() - started:.0f}s after the first boot; "
          f"results in {RESULTS / 'real.json'}", flush=True)
    if args.save_fixtures:
        FIXTURES.mkdir(parents=True, exist_ok=True)
        (FIXTURES / "scenario.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        print(f"realxen: scenario fixture written to {FIXTURES / 'scenario.json'}")
    return 0


def _real_scenario_once() -> tuple[list[dict], str]:
    from tests.realxen.scenario import Scenario, run_scenario
    from tests.realxen.targets import RealTarget

    vm = _boot()
    scenario = Scenario(RealTarget(vm))
    xl_logs = ""
    try:
        scenario_started = time.monotonic()
        run_scenario(scenario.target, scenario)
        print(f"realxen: scenario on real xl in {time.monotonic() - scenario_started:.0f}s", flush=True)
    finally:
        try:
            xl_logs = scenario.target.xl_logs()
            (RESULTS / "real-xl-logs.txt").write_text(xl_logs)
        finally:
            vm.stop()
            _save("real.json", [asdict(step) for step in scenario.steps])
    return [asdict(step) for step in scenario.steps], xl_logs


def cmd_sim(args) -> int:
    from tests.realxen.scenario import run_scenario
    from tests.realxen.targets import SimTarget, start_sim_fleet

    started = time.monotonic()
    sim = start_sim_fleet()
    try:
        steps = run_scenario(SimTarget(sim.host, sim.fleet))
    finally:
        sim.fleet.stop()
    path = _save("sim.json", [asdict(step) for step in steps])
    print(f"realxen: scenario on simhost's xl in {time.monotonic() - started:.0f}s; results in {path}", flush=True)
    return 0


def cmd_diff(args) -> int:
    from tests.realxen.differential import report

    real_path = Path(args.real) if args.real else RESULTS / "real.json"
    sim_path = Path(args.sim) if args.sim else RESULTS / "sim.json"
    for path, how in ((real_path, "./run realxen scenario"), (sim_path, "./run realxen sim")):
        if not path.exists():
            print(f"realxen: {path} is missing: run `{how}` first", file=sys.stderr)
            return 2
    migration = None
    real_migration, sim_migration = RESULTS / "migration.json", RESULTS / "migration-sim.json"
    if not getattr(args, "migration", True):
        print("realxen: one-VM run: the migration part is not compared")
    elif real_migration.exists() and sim_migration.exists():
        migration = (json.loads(real_migration.read_text()), json.loads(sim_migration.read_text()))
    else:
        print("realxen: no migration results of both (./run realxen migrate; ./run realxen sim-migrate): "
              "the migration part is not compared")
    text, unexplained = report(json.loads(real_path.read_text()), json.loads(sim_path.read_text()),
                               migration=migration)
    print(f"differential report: real xl ({real_path}) against simhost's xl ({sim_path})")
    print(text)
    return 1 if unexplained else 0


def cmd_migrate(args) -> int:
    from tests.realxen.migration import run_migration

    return run_migration(_boot_pair)


def cmd_sim_migrate(args) -> int:
    from tests.realxen.migration import run_sim_migration

    RESULTS.mkdir(parents=True, exist_ok=True)
    return run_sim_migration(RESULTS)


def _boot_pair():
    directory = image.images()
    RESULTS.mkdir(parents=True, exist_ok=True)
    return directory, RESULTS


def cmd_all(args, with_migration: bool = True) -> int:
    started = time.monotonic()
    args.save_fixtures = False
    status = cmd_scenario(args) or cmd_sim(args)
    if with_migration and not status:
        status = cmd_migrate(args) or cmd_sim_migrate(args)
    diff_status = cmd_diff(argparse.Namespace(real=None, sim=None, migration=with_migration))
    print(f"realxen: whole run {time.monotonic() - started:.0f}s")
    return status or diff_status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run realxen", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="all",
                        choices=("all", "one-vm", "boot", "scenario", "sim", "diff", "migrate", "sim-migrate"))
    parser.add_argument("--save-fixtures", action="store_true",
                        help="boot/scenario: write the real outputs to tests/fixtures/outputs/xen-4.17/")
    parser.add_argument("--real", help="diff: the real results (default: the last saved)")
    parser.add_argument("--sim", help="diff: the simhost results (default: the last saved)")
    args = parser.parse_args(argv)
    try:
        if args.command == "boot":
            return cmd_boot(args)
        if args.command == "scenario":
            return cmd_scenario(args)
        if args.command == "sim":
            return cmd_sim(args)
        if args.command == "diff":
            return cmd_diff(args)
        if args.command == "migrate":
            return cmd_migrate(args)
        if args.command == "sim-migrate":
            return cmd_sim_migrate(args)
        return cmd_all(args, with_migration=args.command == "all")
    except image.MissingPrerequisite as error:
        print(f"realxen: {error}", file=sys.stderr)
        return 2
    except GuestsDisturbed as error:
        print(f"realxen: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
