"""
xl migrate between two real-Xen VMs joined by a QEMU socket network
(10.77.0.1 "xa" <-> 10.77.0.2 "xb", each Dom0's eth0 in its bridge0), with
the ``-s`` transport exactly as operations/migrate.py builds it, the probe it
runs first, a migration cut mid-way, and the ``--incoming`` /
``--migratedaway`` names seen while one runs.
"""

from __future__ import annotations

import json
import shlex
import socket
import time
from dataclasses import asdict, dataclass, field

from operations.migrate import migrate_command, ssh_probe_command
from spec.transport import migrate_transport
from spec.xlcfg import config_path, render_xl_cfg

from .disturbed import run_undisturbed
from .scenario import DISK_SIZE, guest_spec, named_domains
from .targets import RealTarget, SimTarget
from .vm import RealXenVM

# The two Dom0s carry the same names on both sides (/etc/hosts in the VMs,
# ssh_config in simhost), so the commands are the same words.
ADDRESSES = {"xen1": "10.77.0.1", "xen2": "10.77.0.2"}
# A transport with arguments: xl must get it as one -s word. (Not -p: simhost's
# sshds listen on their own ports, which its ssh_config gives.)
SSH_COMMAND = "ssh -o ServerAliveInterval=5"
MOVER = guest_spec("rxmove")


@dataclass
class MigrationStep:
    id: str
    command: str
    rc: int
    stdout: str
    stderr: str
    names_seen: dict = field(default_factory=dict)  # side -> names xl list showed while it ran
    after: dict = field(default_factory=dict)        # host -> xl list names/states afterwards
    seconds: float = 0.0


def operation_command(guest_name: str, ssh_command: str, address: str) -> str:
    """The xl migrate that operations.migrate.live_migrate runs, as the shell gets it."""

    return migrate_command(guest_name, ssh_command, address).get_raw_value()


def listing(target) -> list[dict]:
    return [{"name": d.name, "state": d.state_flags} for d in named_domains(target.run("xl list").stdout)
            if d.name != "Domain-0"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def migrate_watching(source, target, step_id: str, command: str, cut_when_incoming: bool = False) -> MigrationStep:
    """Run ``command`` in the background on ``source``; list both sides until it ends (or cut it)."""

    started = time.monotonic()
    source.run("rm -f /tmp/m.rc /tmp/m.out /tmp/m.err")
    source.run(f"( {command}; echo $? >/tmp/m.rc ) </dev/null >/tmp/m.out 2>/tmp/m.err & echo $! >/tmp/m.pid")
    seen: dict[str, set] = {"source": set(), "target": set()}
    cut = False
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for side, host in (("source", source), ("target", target)):
            for d in listing(host):
                seen[side].add(d["name"])
        if cut_when_incoming and not cut and any(n.endswith("--incoming") for n in seen["target"]):
            source.cut_migration_transport()
            cut = True
        if source.run("kill -0 $(cat /tmp/m.pid) 2>/dev/null").rc != 0:
            break
        time.sleep(0.5)
    # One listing after the end: the last one in the loop may predate the target's
    # rename, and then the name the guest ends with would be missing from one side only.
    for side, host in (("source", source), ("target", target)):
        seen[side].update(d["name"] for d in listing(host))
    res = source.run("cat /tmp/m.out; cat /tmp/m.err >&2")
    rc_res = source.run("cat /tmp/m.rc 2>/dev/null")
    rc = int(rc_res.stdout.strip()) if rc_res.stdout.strip().isdigit() else -1
    return MigrationStep(step_id, command, rc, res.stdout, res.stderr,
                         {k: sorted(v) for k, v in seen.items()}, {}, round(time.monotonic() - started, 1))


def migration_steps(xen1, xen2, steps: list[MigrationStep]) -> None:
    """The migration scenario between two targets (RealTarget or SimTarget) named xen1 and xen2."""

    for host in (xen1, xen2):
        host.run(f"mkdir -p /vm && truncate -s {DISK_SIZE} {shlex.quote(MOVER.disks[0].target)}")
    xen1.put(config_path(MOVER), render_xl_cfg(MOVER))

    def simple(step_id: str, host, command: str, timeout: float = 300) -> MigrationStep:
        t = time.monotonic()
        res = host.run(command, timeout=timeout)
        step = MigrationStep(step_id, command, res.rc, res.stdout, res.stderr, {},
                             {"xen1": listing(xen1), "xen2": listing(xen2)}, round(time.monotonic() - t, 1))
        steps.append(step)
        print(f"  {step_id:<32} rc={res.rc:<3} {step.seconds:6.1f}s", flush=True)
        return step

    def moving(step_id: str, source, target, command: str, cut: bool = False) -> MigrationStep:
        step = migrate_watching(source, target, step_id, command, cut_when_incoming=cut)
        step.after = {"xen1": listing(xen1), "xen2": listing(xen2)}
        steps.append(step)
        print(f"  {step_id:<32} rc={step.rc:<3} {step.seconds:6.1f}s seen {step.names_seen}", flush=True)
        return step

    simple("m01-probe-xen1-to-xen2", xen1, ssh_probe_command(SSH_COMMAND, "xen2"))
    simple("m03-create", xen1, f"xl create {shlex.quote(config_path(MOVER))}", timeout=600)
    xen1.wait_guest_up(MOVER.name)
    moving("m04-migrate-operation", xen1, xen2, operation_command(MOVER.name, SSH_COMMAND, "xen2"))
    spec_command = " ".join(shlex.quote(w) for w in
                            ("xl", "migrate", "-s", migrate_transport(SSH_COMMAND), MOVER.name, "xen1"))
    moving("m05-migrate-back-spec-transport", xen2, xen1, spec_command)
    moving("m06-migrate-cut", xen1, xen2, operation_command(MOVER.name, SSH_COMMAND, "xen2"), cut=True)
    simple("m07-after-cut-guest-alive", xen1, f"xl list {MOVER.name}")
    simple("m08-destroy", xen1, f"xl destroy {MOVER.name}")


class RealMigrationTarget(RealTarget):
    def cut_migration_transport(self) -> None:
        # The connection carrying the stream dies (as when the network goes).
        self.vm.run("kill -9 $(pidof ssh) 2>/dev/null; true")


class SimMigrationTarget(SimTarget):
    def cut_migration_transport(self) -> None:
        # The ssh client of the outgoing xl migrate, inside this Dom0, as on the real one.
        self.fleet.cut_ssh(self.host.name, clients=True)


def run_migration(boot_pair) -> int:
    steps = run_undisturbed(lambda: _migration_once(boot_pair), "the migration part on real Xen")
    return check_migration(steps)


def _migration_once(boot_pair) -> tuple[list[MigrationStep], str]:
    image_dir, results = boot_pair()
    port = free_port()
    vm1 = RealXenVM("xen1", image_dir, ip=ADDRESSES["xen1"], hosts=ADDRESSES, net=("listen", port), log_dir=results)
    vm2 = RealXenVM("xen2", image_dir, ip=ADDRESSES["xen2"], hosts=ADDRESSES, net=("connect", port), log_dir=results)
    steps: list[MigrationStep] = []
    xl_logs = ""
    started = time.monotonic()
    try:
        for vm in (vm1, vm2):
            (results / f"{vm.name}.serial.log").unlink(missing_ok=True)
        print(f"realxen: xen1 booted in {vm1.start():.0f}s", flush=True)
        print(f"realxen: xen2 booted in {vm2.start():.0f}s", flush=True)
        migration_steps(RealMigrationTarget(vm1), RealMigrationTarget(vm2), steps)
    finally:
        try:
            xl_logs = RealTarget(vm1).xl_logs() + RealTarget(vm2).xl_logs()
            (results / "migration-xl-logs.txt").write_text(xl_logs)
        finally:
            vm1.stop()
            vm2.stop()
            data = [asdict(step) for step in steps]
            (results / "migration.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"realxen: migration part on real Xen in {time.monotonic() - started:.0f}s; "
          f"results in {results / 'migration.json'}")
    return steps, xl_logs


def run_sim_migration(results) -> int:
    from .targets import start_sim_fleet

    started = time.monotonic()
    sim = start_sim_fleet(("xen1", "xen2"))
    steps: list[MigrationStep] = []
    try:
        # Long enough for xl list to see the --incoming / --migratedaway names, as on the real Xen.
        sim.fleet.set_migrate_seconds(4)
        xen1 = SimMigrationTarget(sim.fleet.hosts["xen1"], sim.fleet)
        xen2 = SimMigrationTarget(sim.fleet.hosts["xen2"], sim.fleet)
        migration_steps(xen1, xen2, steps)
    finally:
        sim.fleet.stop()
        data = [asdict(step) for step in steps]
        (results / "migration-sim.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"realxen: migration part on simhost in {time.monotonic() - started:.0f}s; "
          f"results in {results / 'migration-sim.json'}")
    return 0


def check_migration(steps: list[MigrationStep]) -> int:
    """What must hold on the real Xen (exit 1 otherwise)."""

    by_id = {s.id: s for s in steps}
    problems = []

    def expect(condition: bool, what: str) -> None:
        if not condition:
            problems.append(what)

    probe = by_id.get("m01-probe-xen1-to-xen2")
    expect(probe is not None and probe.rc == 0, "the product's ssh probe fails between the VMs")
    for step_id, there, gone in (("m04-migrate-operation", "xen2", "xen1"),
                                 ("m05-migrate-back-spec-transport", "xen1", "xen2")):
        moved = by_id.get(step_id)
        expect(moved is not None and moved.rc == 0, f"{step_id}: xl migrate fails")
        if moved:
            expect([d["name"] for d in moved.after.get(there, [])] == [MOVER.name], f"{step_id}: the guest is not on {there}")
            expect(moved.after.get(gone, []) == [], f"{step_id}: a domain is left on {gone}")
            expect(f"{MOVER.name}--incoming" in moved.names_seen.get("target", []), f"{step_id}: no --incoming name seen")
            expect(f"{MOVER.name}--migratedaway" in moved.names_seen.get("source", []),
                   f"{step_id}: no --migratedaway name seen")
    cut = by_id.get("m06-migrate-cut")
    expect(cut is not None and cut.rc != 0, "the cut migration did not fail")
    if cut:
        expect([d["name"] for d in cut.after.get("xen1", [])] == [MOVER.name], "after a cut, the guest is not back on xen1")
        expect(cut.after.get("xen2", []) == [], "after a cut, xen2 keeps a domain")
    for problem in problems:
        print(f"realxen: MIGRATION PROBLEM: {problem}")
    return 1 if problems else 0
