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
from types import SimpleNamespace

from facts.xl import parse_xl_list
from operations.migrate import live_migrate, ssh_probe_command
from spec.transport import migrate_transport
from spec.xlcfg import config_path, render_xl_cfg

from .scenario import DISK_SIZE, guest_spec
from .targets import RealTarget
from .vm import RealXenVM

ADDRESSES = {"xa": "10.77.0.1", "xb": "10.77.0.2"}
SSH_COMMAND = "ssh -p 22"  # a transport with arguments: xl must get it as one -s word
MOVER = guest_spec("rxmove")


@dataclass
class MigrationStep:
    id: str
    command: str
    rc: int
    stdout: str
    stderr: str
    names_seen: dict = field(default_factory=dict)  # host -> names seen by xl list while it ran
    after: dict = field(default_factory=dict)        # host -> xl list names/states afterwards
    seconds: float = 0.0


def operation_command(guest_name: str, ssh_command: str, address: str) -> str:
    """The first command operations.migrate.live_migrate yields (the xl migrate), as the shell gets it."""

    generator = live_migrate._inner.__wrapped__(
        guest_name, SimpleNamespace(ssh_command=ssh_command, address=address, host=None),
    )
    return next(generator).get_raw_value()


def listing(vm: RealXenVM) -> list[dict]:
    return [{"name": d.name, "state": d.state_flags} for d in parse_xl_list(vm.run("xl list").stdout)
            if d.name != "Domain-0"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def migrate_watching(source: RealXenVM, target: RealXenVM, step_id: str, command: str,
                     cut_when_incoming: bool = False) -> MigrationStep:
    """Run ``command`` in the background on ``source``; list both sides until it ends (or cut it)."""

    started = time.monotonic()
    source.run("rm -f /tmp/m.rc /tmp/m.out /tmp/m.err")
    source.run(f"( {command}; echo $? >/tmp/m.rc ) </dev/null >/tmp/m.out 2>/tmp/m.err & echo $! >/tmp/m.pid")
    seen: dict[str, set] = {"source": set(), "target": set()}
    cut = False
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for side, vm in (("source", source), ("target", target)):
            for d in listing(vm):
                seen[side].add(d["name"])
        if cut_when_incoming and not cut and any(n.endswith("--incoming") for n in seen["target"]):
            # The network goes away mid-transfer: the ssh carrying the stream dies.
            source.run("kill -9 $(pidof ssh) 2>/dev/null; true")
            cut = True
        if source.run("kill -0 $(cat /tmp/m.pid) 2>/dev/null").rc != 0:
            break
        time.sleep(0.5)
    res = source.run("cat /tmp/m.out; cat /tmp/m.err >&2")
    rc_res = source.run("cat /tmp/m.rc 2>/dev/null")
    rc = int(rc_res.stdout.strip()) if rc_res.stdout.strip().isdigit() else -1
    return MigrationStep(step_id, command, rc, res.stdout, res.stderr,
                         {k: sorted(v) for k, v in seen.items()}, {}, round(time.monotonic() - started, 1))


def run_migration(boot_pair) -> int:
    image_dir, results = boot_pair()
    port = free_port()
    hosts = {"xa": ADDRESSES["xa"], "xb": ADDRESSES["xb"]}
    xa = RealXenVM("xa", image_dir, ip=ADDRESSES["xa"], hosts=hosts, net=("listen", port), log_dir=results)
    xb = RealXenVM("xb", image_dir, ip=ADDRESSES["xb"], hosts=hosts, net=("connect", port), log_dir=results)
    steps: list[MigrationStep] = []
    started = time.monotonic()
    try:
        for vm in (xa, xb):
            (results / f"{vm.name}.serial.log").unlink(missing_ok=True)
        print(f"realxen: xa booted in {xa.start():.0f}s", flush=True)
        print(f"realxen: xb booted in {xb.start():.0f}s", flush=True)
        for vm in (xa, xb):
            vm.run(f"truncate -s {DISK_SIZE} {shlex.quote(MOVER.disks[0].target)}")
        xa.put(config_path(MOVER), render_xl_cfg(MOVER))

        def simple(step_id: str, vm: RealXenVM, command: str, timeout: float = 300) -> MigrationStep:
            t = time.monotonic()
            res = vm.run(command, timeout=timeout)
            step = MigrationStep(step_id, command, res.rc, res.stdout, res.stderr, {},
                                 {"xa": listing(xa), "xb": listing(xb)}, round(time.monotonic() - t, 1))
            steps.append(step)
            print(f"  {step_id:<32} rc={res.rc:<3} {step.seconds:6.1f}s", flush=True)
            return step

        def moving(step_id: str, source, target, command: str, cut: bool = False) -> MigrationStep:
            step = migrate_watching(source, target, step_id, command, cut_when_incoming=cut)
            step.after = {"xa": listing(xa), "xb": listing(xb)}
            steps.append(step)
            print(f"  {step_id:<32} rc={step.rc:<3} {step.seconds:6.1f}s seen {step.names_seen}", flush=True)
            return step

        simple("m01-probe-xa-to-xb", xa, ssh_probe_command(SSH_COMMAND, "xb"))
        simple("m02-probe-bad-address", xa, ssh_probe_command(SSH_COMMAND, "10.77.0.9"), timeout=120)
        simple("m03-create", xa, f"xl create {shlex.quote(config_path(MOVER))}", timeout=600)
        RealTarget(xa).wait_guest_up(MOVER.name)
        moving("m04-migrate-operation", xa, xb, operation_command(MOVER.name, SSH_COMMAND, "xb"))
        spec_command = " ".join(shlex.quote(w) for w in
                                ("xl", "migrate", "-s", migrate_transport(SSH_COMMAND), MOVER.name, "xa"))
        moving("m05-migrate-back-spec-transport", xb, xa, spec_command)
        moving("m06-migrate-cut", xa, xb, operation_command(MOVER.name, SSH_COMMAND, "xb"), cut=True)
        simple("m07-after-cut-guest-alive", xa, f"xl list {MOVER.name}")
        simple("m08-destroy", xa, f"xl destroy {MOVER.name}")
    finally:
        xa.stop()
        xb.stop()
        data = [asdict(step) for step in steps]
        (results / "migration.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"realxen: migration part in {time.monotonic() - started:.0f}s; results in {results / 'migration.json'}")
    return check_migration(steps)


def check_migration(steps: list[MigrationStep]) -> int:
    """What must hold on the real Xen (exit 1 otherwise)."""

    by_id = {s.id: s for s in steps}
    problems = []

    def expect(condition: bool, what: str) -> None:
        if not condition:
            problems.append(what)

    expect(by_id.get("m01-probe-xa-to-xb") is not None and by_id["m01-probe-xa-to-xb"].rc == 0,
           "the product's ssh probe fails between the VMs")
    moved = by_id.get("m04-migrate-operation")
    expect(moved is not None and moved.rc == 0, "xl migrate as operations/migrate.py builds it fails")
    if moved:
        expect([d["name"] for d in moved.after.get("xb", [])] == [MOVER.name], "the guest is not on xb after migrating")
        expect(moved.after.get("xa", []) == [], "the guest is still on xa after migrating")
    back = by_id.get("m05-migrate-back-spec-transport")
    expect(back is not None and back.rc == 0, "xl migrate with spec.transport.migrate_transport fails")
    cut = by_id.get("m06-migrate-cut")
    expect(cut is not None and cut.rc != 0, "the cut migration did not fail")
    if cut:
        expect([d["name"] for d in cut.after.get("xa", [])] == [MOVER.name], "after a cut, the guest is not back on xa")
        expect(cut.after.get("xb", []) == [], "after a cut, xb keeps a domain")
    for problem in problems:
        print(f"realxen: MIGRATION PROBLEM: {problem}")
    return 1 if problems else 0
