"""Command line: run a fleet in the background for the sandbox inventory.

    python -m simhost up   --dir .sandbox --hosts xen1=freebsd14,xen2=freebsd12
    python -m simhost down --dir .sandbox
    python -m simhost status --dir .sandbox
    python -m simhost variants
    python -m simhost gc       (remove fleets left behind by killed processes)

`up` starts a daemonised supervisor process (it owns every sshd) and returns once all
hosts answer SSH; it writes DIR/inventory-connection.json ({host: pyinfra connection
data}), DIR/inventory.py, DIR/supervisor.pid and DIR/supervisor.log.  The chroots
themselves live under /var/lib/freebsd-xen-sim/ (sshd's ChrootDirectory rules).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .fleet import DEFAULT_BASE, Fleet, cleanup_stale
from .variants import VARIANTS

CONNECTIONS = "inventory-connection.json"


def parse_hosts(spec: str) -> list[tuple[str, str]]:
    pairs = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, sep, variant = item.partition("=")
        if not sep or not name or variant not in VARIANTS:
            raise SystemExit(
                f"bad host spec {item!r}: want name=variant, variants: {', '.join(sorted(VARIANTS))}"
            )
        pairs.append((name, variant))
    if not pairs:
        raise SystemExit("--hosts is empty")
    return pairs


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def cmd_up(args) -> int:
    d = Path(args.dir).absolute()
    d.mkdir(parents=True, exist_ok=True)
    pidfile = d / "supervisor.pid"
    if pidfile.exists() and _pid_alive(int(pidfile.read_text())):
        print(f"already running (pid {pidfile.read_text().strip()}); use: python -m simhost down --dir {d}", file=sys.stderr)
        return 1
    parse_hosts(args.hosts)  # validate before forking
    cleanup_stale()
    (d / CONNECTIONS).unlink(missing_ok=True)
    log = open(d / "supervisor.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simhost", "_serve", "--dir", str(d), "--hosts", args.hosts],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if (d / CONNECTIONS).exists():
            print(f"simhost fleet up (supervisor pid {proc.pid}): {d / CONNECTIONS}")
            for name, data in json.loads((d / CONNECTIONS).read_text()).items():
                print(f"  {name}: ssh -i {data['ssh_key']} -p {data['ssh_port']} root@127.0.0.1")
            return 0
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    print("simhost fleet failed to start; supervisor.log:", file=sys.stderr)
    print((d / "supervisor.log").read_text()[-3000:], file=sys.stderr)
    if proc.poll() is None:
        proc.terminate()
    return 1


def cmd_serve(args) -> int:
    """The daemon: start the fleet, publish connection data, supervise until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    d = Path(args.dir).absolute()
    fleet = Fleet()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    try:
        for name, variant in parse_hosts(args.hosts):
            fleet.add(name, variant)
        fleet.start()
        (d / "supervisor.pid").write_text(f"{os.getpid()}\n")
        (d / "fleet-base").write_text(f"{fleet.base_dir}\n")
        fleet.write_inventory(d / "inventory.py")
        tmp = d / (CONNECTIONS + ".tmp")
        tmp.write_text(json.dumps(fleet.connection_data(), indent=2) + "\n")
        tmp.rename(d / CONNECTIONS)
        logging.info("fleet up in %s: %s", fleet.base_dir, ", ".join(f"{n}:{h.port}" for n, h in fleet.hosts.items()))
        while not stop.wait(0.5):
            pass
    finally:
        fleet.stop()
        for f in (CONNECTIONS, "supervisor.pid", "fleet-base", "inventory.py"):
            (d / f).unlink(missing_ok=True)
        logging.info("fleet stopped")
    return 0


def cmd_down(args) -> int:
    d = Path(args.dir).absolute()
    pidfile = d / "supervisor.pid"
    if not pidfile.exists():
        print(f"no fleet running in {d}", file=sys.stderr)
        (d / CONNECTIONS).unlink(missing_ok=True)
        return 0
    pid = int(pidfile.read_text())
    if _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    pidfile.unlink(missing_ok=True)
    (d / CONNECTIONS).unlink(missing_ok=True)
    print("simhost fleet down")
    return 0


def cmd_status(args) -> int:
    d = Path(args.dir).absolute()
    pidfile = d / "supervisor.pid"
    if not pidfile.exists() or not _pid_alive(int(pidfile.read_text())):
        print("down")
        return 1
    print(f"up (supervisor pid {pidfile.read_text().strip()})")
    print((d / CONNECTIONS).read_text())
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m simhost", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start a fleet in the background")
    up.add_argument("--dir", required=True)
    up.add_argument("--hosts", required=True, help="name=variant[,name=variant...]")
    up.add_argument("--timeout", type=float, default=60)
    serve = sub.add_parser("_serve")
    serve.add_argument("--dir", required=True)
    serve.add_argument("--hosts", required=True)
    for name in ("down", "status"):
        sp = sub.add_parser(name)
        sp.add_argument("--dir", required=True)
    sub.add_parser("variants", help="list the variants")
    sub.add_parser("gc", help=f"remove fleets under {DEFAULT_BASE} whose owner process died")
    args = p.parse_args(argv)
    if args.cmd == "gc":
        for run in cleanup_stale():
            print(f"removed {run}")
        return 0
    if args.cmd == "variants":
        for name, v in VARIANTS.items():
            print(f"{name:18} {v}")
        return 0
    return {"up": cmd_up, "_serve": cmd_serve, "down": cmd_down, "status": cmd_status}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
