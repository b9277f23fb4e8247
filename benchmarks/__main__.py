"""
Remote commands per host and wall time: ``deploys/dom0.py`` against a literal
FreeBSD Handbook deploy (``benchmarks/handbook_dom0.py``), and
``deploys/guests.py`` with many guests, on simulated FreeBSD hosts.

    python -m benchmarks                      # 1, 10 and 50 hosts; 1, 10, 50 guests
    python -m benchmarks --hosts 1,10 --guests 1,10
    python -m benchmarks --guests none        # skip the guests rows
    python -m benchmarks --rtt 40             # as from a laptop: 40 ms round trips

Run from the repository root, as root (the simulated hosts are chroots served
by sshd).  For each scale and each deploy a fresh fleet of simulated FreeBSD 14
hosts is built, and the real ``pyinfra`` CLI runs the deploy on all of them at
once, twice: the FIRST run (fresh hosts: packages, configuration, reboot into
Xen) and the CONVERGED run (the same deploy again).

Commands are counted at the server: every simulated host's sshd runs with
``LogLevel VERBOSE``, which logs one ``Starting session: command ...`` line per
SSH exec request and one ``Starting session: subsystem 'sftp' ...`` per SFTP
session (see benchmarks/sshdlog.py).  Nothing on the client side is patched.
Wall time is the whole ``pyinfra`` process (start, inventory, connect, run,
disconnect), for all hosts together.  On loopback a remote command costs only
the host's work; ``--rtt`` puts a relay with that round-trip time between
pyinfra and every host (benchmarks/latency.py), which is where the number of
commands shows in the wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .latency import DelayedLinks
from .sshdlog import LogCursor, Requests, count_requests

REPO = Path(__file__).resolve().parent.parent
SIM_BASE = Path("/var/lib/freebsd-xen-sim")
OURS = "deploys/dom0.py"
BASELINE = "benchmarks/handbook_dom0.py"
GUESTS = "deploys/guests.py"
# The least any pyinfra run costs: connect, run `true`, disconnect. No deploy can
# be faster than this, so it is measured next to ours to show what is left.
FLOOR = "exec -- true"
DEPLOY_LABELS = {OURS: "ours", BASELINE: "handbook", FLOOR: "pyinfra floor"}
# The Handbook's values, which are also deploys/dom0.py's defaults.
DOM0_DATA = {"xen_bridge_members": ["em0"]}
PYINFRA_TIMEOUT = 900


@dataclass
class Run:
    scale: int
    deploy: str
    run: str  # "first" / "converged"
    ok: bool
    wall: float
    per_host: dict[str, Requests] = field(default_factory=dict)
    changed_ops: int | None = None  # pyinfra's "Success" total (operations that changed something)
    error: str = ""
    failed_hosts: list[str] = field(default_factory=list)
    client_cpu: float = 0.0  # CPU seconds of the pyinfra process (user + system)
    machine_cpu: float = 0.0  # CPU seconds the whole machine spent (pyinfra + sshd + simulated hosts)

    def stat(self, attr: str) -> str:
        values = [getattr(r, attr) for r in self.per_host.values()]
        if not values:
            return "-"
        lo, hi = min(values), max(values)
        return str(lo) if lo == hi else f"{statistics.mean(values):.1f} ({lo}-{hi})"

    def mean(self, attr: str) -> float:
        values = [getattr(r, attr) for r in self.per_host.values()]
        return statistics.mean(values) if values else float("nan")


# -- simulated hosts ---------------------------------------------------------------------

@contextlib.contextmanager
def sshd_request_logging():
    """Make every simulated sshd started meanwhile (also the ones restarted by a
    reboot) log each session; the usual config is back afterwards.

    The supervisor that reboots hosts runs in this process, so patching the config
    writer here covers every sshd start. Stop the fleets before leaving: an sshd
    restarted later gets the usual config, and other tests in the same process
    (pytest) must not meet VERBOSE sshds, whose session log lines end up on the
    client's stderr."""
    from simhost import sshd

    original = sshd.SshServer.write_config

    def write_config(self):
        original(self)
        with open(self.config_path, "a") as f:
            f.write("LogLevel VERBOSE\n")

    sshd.SshServer.write_config = write_config
    try:
        yield
    finally:
        sshd.SshServer.write_config = original


class BenchFleet:
    """A fresh fleet of `count` FreeBSD 14 hosts with per-run request counting."""

    def __init__(self, label: str, count: int, workdir: Path, links: DelayedLinks | None = None):
        from simhost.fleet import Fleet

        self._logging = sshd_request_logging()
        self._logging.__enter__()
        self.fleet = Fleet(SIM_BASE / f"bench-{os.getpid()}-{secrets.token_hex(3)}-{label}")
        self.names = [f"xen{i + 1}" for i in range(count)]
        self.workdir = workdir
        self.label = label
        t = time.monotonic()
        for name in self.names:
            self.fleet.add(name, "freebsd14")
        self.fleet.start()
        self.setup_seconds = time.monotonic() - t
        # With a round-trip time, pyinfra reaches each host through a delaying relay.
        self.via = {}
        if links is not None:
            for name in self.names:
                data = self.fleet.host_data(name)
                self.via[name] = {"ssh_port": links.add((data["ssh_hostname"], data["ssh_port"]))}

    def inventory(self, data_per_host: dict, guests_per_host: int = 0) -> Path:
        """The same data on every host, plus (optionally) that many guests of its own."""
        path = self.workdir / f"inventory_{self.label}.py"
        data = {}
        for n in self.names:
            data[n] = {**data_per_host, **self.via.get(n, {})}
            if guests_per_host:
                data[n]["xen_guests"] = guest_data(guests_per_host, prefix=f"{n}-")
        self.fleet.write_inventory(path, data)
        return path

    def log(self, name: str) -> Path:
        return self.fleet.servers[name].workdir / "sshd.log"

    def run(self, inventory: Path, deploy: str, scale: int, which: str) -> Run:
        cursors = {n: LogCursor(self.log(n)) for n in self.names}
        rc, out, wall, client_cpu, machine_cpu = run_pyinfra(inventory, deploy)
        time.sleep(0.2)  # let the last per-connection sshd processes finish logging
        per_host = {n: count_requests(c.read_new()) for n, c in cursors.items()}
        run = Run(scale, deploy, which, rc == 0, wall, per_host, changed_ops(out),
                  client_cpu=client_cpu, machine_cpu=machine_cpu)
        if rc != 0:
            run.error = failure_reason(out)
            run.failed_hosts = sorted(set(re.findall(r"\[([^\]\s]+)\]\s+Error:", out)) & set(self.names),
                                      key=lambda n: (len(n), n))
            (self.workdir / f"failed_{self.label}_{which}.log").write_text(out)
        return run

    def stop(self) -> None:
        try:
            self.fleet.stop()
        finally:
            self._logging.__exit__(None, None, None)


def machine_busy_seconds() -> float:
    """CPU seconds this machine has been busy since boot (/proc/stat, all CPUs)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_pyinfra(inventory: Path, deploy: str) -> tuple[int, str, float, float, float]:
    """Run the pyinfra CLI: (returncode, output, wall s, pyinfra's CPU s, machine CPU s)."""
    cmd = [str(Path(sys.executable).with_name("pyinfra")), "-y", str(inventory), *deploy.split()]
    with tempfile.TemporaryFile("w+") as output:
        busy, t = machine_busy_seconds(), time.monotonic()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=output, stderr=subprocess.STDOUT, text=True)
        timer = threading.Timer(PYINFRA_TIMEOUT, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # the rusage of pyinfra alone
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall, busy = time.monotonic() - t, machine_busy_seconds() - busy
        output.seek(0)
        out = output.read()
    if proc.returncode == -9:
        out += f"\ntimed out after {PYINFRA_TIMEOUT}s"
    return proc.returncode, out, wall, usage.ru_utime + usage.ru_stime, busy


def changed_ops(output: str) -> int | None:
    """The "Success" column of pyinfra's "Grand total" results row (operations that changed)."""
    m = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", output)
    if not m:
        return None
    return 0 if m.group(2) == "-" else int(m.group(2))


_NOISE = re.compile(r"Connected|Ready:|Changed root directory|Success|No changes|Error: executed \d+ commands")


def failure_reason(output: str) -> str:
    """The last thing a host said before failing, with the operation it was in."""
    operation, reason = "", ""
    for line in output.splitlines():
        m = re.match(r"--> Starting operation: (.*)", line)
        if m:
            operation = m.group(1).strip()
            continue
        m = re.match(r"\s*\[[^\]]+\] (.*)", line)
        if m and not _NOISE.search(m.group(1)):
            reason = f"{operation}: {m.group(1).strip()}" if operation else m.group(1).strip()
    if not reason:
        lines = [l.strip() for l in output.splitlines() if l.strip()]
        reason = lines[-1] if lines else "no output"
    return reason[:160]


# -- benchmarks --------------------------------------------------------------------------

def bench_dom0(scales: list[int], workdir: Path, log, links: DelayedLinks | None = None) -> list[Run]:
    runs = []
    for scale in scales:
        for deploy in (OURS, BASELINE):
            label = f"{DEPLOY_LABELS[deploy]}{scale}"
            fleet = BenchFleet(label, scale, workdir, links)
            log(f"{scale} host(s), {deploy}: fleet up in {fleet.setup_seconds:.1f}s")
            try:
                inv = fleet.inventory(DOM0_DATA)
                first = fleet.run(inv, deploy, scale, "first")
                runs.append(first)
                log(f"  first: {status(first)} in {first.wall:.1f}s, {first.stat('exec')} exec/host")
                if not first.ok:
                    # Finish the hosts that failed (not measured), so that the converged
                    # run still measures converged hosts.
                    repair = fleet.run(inv, deploy, scale, "repair")
                    log(f"  repair run (not measured): {status(repair)} in {repair.wall:.1f}s")
                conv = fleet.run(inv, deploy, scale, "converged")
                runs.append(conv)
                log(f"  converged: {status(conv)} in {conv.wall:.1f}s, {conv.stat('exec')} exec/host")
                if deploy == OURS:
                    floor = fleet.run(inv, FLOOR, scale, "converged")
                    runs.append(floor)
                    log(f"  pyinfra floor (exec -- true): {status(floor)} in {floor.wall:.1f}s")
            finally:
                fleet.stop()
    return runs


def status(r: Run) -> str:
    if r.ok:
        return "ok"
    hosts = f" on {len(r.failed_hosts)}/{len(r.per_host)} hosts" if r.failed_hosts else ""
    return f"FAILED{hosts}: {r.error}"


def guest_data(count: int, prefix: str = "") -> list[dict]:
    """`count` small HVM guests like the Handbook's (a zvol disk on bridge0), already installed."""
    return [
        {
            "name": f"{prefix}bench{i + 1}",
            "type": "hvm",
            "memory": 64,
            "installed": True,
            "vcpus": 1,
            "disks": [{"zvol": f"zroot/xen/{prefix}bench{i + 1}-disk0", "size": "1G"}],
            "vifs": [{"bridge": "bridge0"}],
        }
        for i in range(count)
    ]


def bench_guests(guest_counts: list[int], workdir: Path, log, links: DelayedLinks | None = None) -> list[Run | str]:
    """One Dom0 (deployed by deploys/dom0.py), then guests.py with 1, 10, 50 guests: the
    first run creates them, the converged run is measured."""
    results: list[Run | str] = []
    if not guest_counts:
        return results
    if not (REPO / GUESTS).exists():
        return [f"n/a ({GUESTS} does not exist)"]
    fleet = BenchFleet("guests", 1, workdir, links)
    try:
        inv = fleet.inventory(DOM0_DATA)
        r = fleet.run(inv, OURS, 1, "first")
        if not r.ok:
            return [f"n/a (Dom0 deploy failed: {r.error})"]
        for count in guest_counts:
            inv = fleet.inventory({**DOM0_DATA, "xen_guests": guest_data(count)})
            first = fleet.run(inv, GUESTS, count, "first")
            log(f"guests x{count}: first {'ok' if first.ok else 'FAILED: ' + first.error} in {first.wall:.1f}s")
            if not first.ok:
                results.append(f"{count} guests: n/a (first run failed: {first.error})")
                continue
            conv = fleet.run(inv, GUESTS, count, "converged")
            log(f"guests x{count}: converged {'ok' if conv.ok else 'FAILED: ' + conv.error} in {conv.wall:.1f}s")
            results.append(first)
            results.append(conv if conv.ok else f"{count} guests: n/a (converged run failed: {conv.error})")
    except Exception as e:  # the simulator's guest support may still be missing pieces
        results.append(f"n/a ({type(e).__name__}: {e})")
    finally:
        fleet.stop()
    return results


FLEET_GUESTS = 3


def bench_fleet(scales: list[int], workdir: Path, log, links: DelayedLinks | None = None) -> list[Run]:
    """1, 10, 50 Dom0s with FLEET_GUESTS guests each, guests.py on all of them in one run."""
    results: list[Run] = []
    for scale in scales:
        fleet = BenchFleet(f"fleet{scale}", scale, workdir, links)
        try:
            dom0 = fleet.run(fleet.inventory(DOM0_DATA), OURS, scale, "setup")
            if not dom0.ok:
                log(f"fleet x{scale}: Dom0 deploy failed: {dom0.error}")
                continue
            inv = fleet.inventory(DOM0_DATA, guests_per_host=FLEET_GUESTS)
            for which in ("first", "converged"):
                r = fleet.run(inv, GUESTS, scale, which)
                log(f"fleet x{scale}: guests {which} {'ok' if r.ok else 'FAILED: ' + r.error} in {r.wall:.1f}s")
                results.append(r)
        finally:
            fleet.stop()
    return results


def report_fleet(runs: list[Run]) -> str:
    if not runs:
        return ""
    rows = [[str(r.scale), r.run, "ok" if r.ok else "FAILED", r.stat("exec"), r.stat("sftp"), per_host_changed(r),
             f"{r.wall:.1f}", f"{r.client_cpu:.1f}", f"{r.machine_cpu:.1f}"] for r in runs]
    return "\n".join([
        f"deploys/guests.py across a fleet: {FLEET_GUESTS} guests per Dom0, all Dom0s in one pyinfra run",
        format_table(["hosts", "run", "status", "exec/host", "sftp/host", "changed ops/host", "wall s",
                      "pyinfra cpu s", "machine cpu s"], rows),
    ])


# -- report ------------------------------------------------------------------------------

def format_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def per_host_changed(r: Run) -> str:
    if r.changed_ops is None or not r.per_host:
        return "-"
    v = r.changed_ops / len(r.per_host)
    return f"{v:g}"


def report_dom0(runs: list[Run]) -> str:
    order = {"first": 0, "converged": 1}
    rows, notes = [], []
    deploys = list(DEPLOY_LABELS)
    for r in sorted(runs, key=lambda r: (r.scale, order[r.run], deploys.index(r.deploy))):
        if not r.ok:
            notes.append(f"[{len(notes) + 1}] {r.scale} hosts, {DEPLOY_LABELS[r.deploy]}, {r.run} run: "
                         f"failed on {', '.join(r.failed_hosts) or '?'}; last message: {r.error}")
        rows.append([
            str(r.scale), DEPLOY_LABELS[r.deploy], r.run,
            "ok" if r.ok else f"FAILED {len(r.failed_hosts)}/{len(r.per_host)} [{len(notes)}]",
            r.stat("exec"), r.stat("sftp"), r.stat("connections"),
            per_host_changed(r), f"{r.wall:.1f}", f"{r.client_cpu:.1f}", f"{r.machine_cpu:.1f}",
        ])
    out = ["Dom0: deploys/dom0.py (ours) vs benchmarks/handbook_dom0.py (handbook), all hosts in one pyinfra run",
           format_table(["hosts", "deploy", "run", "status", "exec/host", "sftp/host", "ssh conns/host",
                         "changed ops/host", "wall s", "pyinfra cpu s", "machine cpu s"], rows), *notes]
    ratio_rows = []
    for scale in sorted({r.scale for r in runs}):
        pick = {(r.deploy, r.run): r for r in runs if r.scale == scale and r.ok}
        ours, base = pick.get((OURS, "converged")), pick.get((BASELINE, "converged"))
        floor = pick.get((FLOOR, "converged"))
        if ours and base:
            ratio_rows.append([
                str(scale),
                f"{ours.mean('total'):g}/{base.mean('total'):g} = {ours.mean('total') / base.mean('total'):.2f}",
                f"{ours.wall:.1f}/{base.wall:.1f} = {ours.wall / base.wall:.2f}",
                f"{floor.wall:.1f}" if floor else "n/a",
                above_floor(ours.wall, base.wall, floor.wall) if floor else "n/a",
            ])
    if ratio_rows:
        out += ["", "Converged run, ours/handbook (remote requests = exec + sftp, per host); the floor is a pyinfra",
                "run of `exec -- true` on the same hosts, the least any pyinfra deploy can take; above the floor is",
                "the wall time each deploy adds to it",
                format_table(["hosts", "requests/host", "wall time", "floor s", "wall time above floor"], ratio_rows)]
    return "\n".join(out)


def above_floor(ours: float, baseline: float, floor: float) -> str:
    """The time each deploy adds to pyinfra's floor, and their ratio (noise can put ours below it: 0)."""

    ours_above, baseline_above = max(ours - floor, 0.0), max(baseline - floor, 0.0)
    ratio = f"{ours_above / baseline_above:.2f}" if baseline_above else "n/a"
    return f"{ours_above:.2f}/{baseline_above:.2f} = {ratio}"


def report_guests(results: list[Run | str]) -> str:
    if not results:
        return ""
    rows, notes = [], []
    for r in results:
        if isinstance(r, str):
            notes.append(r)
        elif r.ok:
            rows.append([str(r.scale), r.run, r.stat("exec"), r.stat("sftp"), per_host_changed(r), f"{r.wall:.1f}",
                         f"{r.client_cpu:.1f}", f"{r.machine_cpu:.1f}"])
    out = ["deploys/guests.py on one Dom0 (guests per host; the first run creates them)"]
    if rows:
        out.append(format_table(["guests", "run", "exec/host", "sftp/host", "changed ops/host", "wall s",
                                 "pyinfra cpu s", "machine cpu s"], rows))
    out += notes
    return "\n".join(out)


def parse_counts(text: str) -> list[int]:
    if text.strip().lower() in ("", "none", "0"):
        return []
    counts = [int(x) for x in text.split(",") if x.strip()]
    if any(c < 1 for c in counts):
        raise argparse.ArgumentTypeError("counts must be positive integers")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--hosts", type=parse_counts, default=[1, 10, 50],
                        help="comma-separated fleet sizes (default 1,10,50)")
    parser.add_argument("--guests", type=parse_counts, default=[1, 10, 50],
                        help="comma-separated guests per host for deploys/guests.py (default 1,10,50; 'none' to skip)")
    parser.add_argument("--no-fleet", dest="fleet", action="store_false",
                        help="skip the fleet rows (guests.py on --hosts Dom0s with 3 guests each)")
    parser.add_argument("--rtt", type=float, default=0, metavar="MS",
                        help="round-trip time added to every SSH connection, as from a laptop to a data centre "
                             "(default 0: loopback)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (inventories, failed runs' output)")
    parser.add_argument("--zfs-move", action="store_true",
                        help="only the move of a guest on a 20G zvol with its disks: replicated vs cold (benchmarks/zfs_move.py)")
    parser.add_argument("--zfs-move-data", type=float, default=2.0, metavar="GIB", help="data written in the volume")
    parser.add_argument("--zfs-move-change", type=float, default=1.0, metavar="PERCENT",
                        help="percent of the volume the guest changes between rounds")
    args = parser.parse_args(argv)
    if args.zfs_move:
        from benchmarks.zfs_move import bench_zfs_move

        print(bench_zfs_move(int(args.zfs_move_data * 2**30), args.zfs_move_change))
        return 0

    if os.geteuid() != 0:
        print("benchmarks: needs root (the simulated hosts are chroots served by sshd)", file=sys.stderr)
        return 1
    os.chdir(REPO)
    sys.path.insert(0, str(REPO))
    workdir = Path(f"/tmp/freebsd-xen-bench-{os.getpid()}")
    workdir.mkdir(parents=True, exist_ok=True)
    log = lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True)

    start = time.monotonic()
    with DelayedLinks(args.rtt) if args.rtt else contextlib.nullcontext() as links:
        dom0_runs = bench_dom0(args.hosts, workdir, log, links)
        guest_results = bench_guests(args.guests, workdir, log, links)
        fleet_runs = bench_fleet(args.hosts if args.fleet else [], workdir, log, links)
    total = time.monotonic() - start

    network = (f"every SSH connection through a relay adding {args.rtt:g} ms of round-trip time (benchmarks/latency.py)"
               if args.rtt else "loopback (no network latency)")
    reports = [f"Network: {network}", report_dom0(dom0_runs) if dom0_runs else "", report_guests(guest_results),
               report_fleet(fleet_runs)]
    print("\n\n".join(r for r in reports if r))
    print(f"\ntotal benchmark time {total:.0f}s on {os.cpu_count()} CPU(s); work dir {workdir}")
    failed = any(not r.ok for r in [*dom0_runs, *fleet_runs])
    if not args.keep and not failed:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
