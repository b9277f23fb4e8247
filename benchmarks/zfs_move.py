"""
A guest on a local 20G zvol moved between two simulated Dom0s (issue 12): the
replicated move (``deploys/guests.py`` with ``move_disks``: full send while it
runs, incremental rounds, a short stop, the final incremental) against a cold
move (stop, full send, start), on the same data, with the guest changing 1% of
its volume between rounds.

    python -m benchmarks --zfs-move [--zfs-move-data 2G] [--zfs-move-change 1]

Prints each move's downtime (the guest not running anywhere) and total time.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from pathlib import Path

from tests.e2e.deploy import pyinfra

VOLSIZE = 20 * 2**30
DOM0 = {"xen_bridge_members": ["em0"], "xen_dom0_mem": "4096M", "xen_dom0_max_vcpus": 2}
RECORD = 2**20


def guest(name: str) -> dict:
    return {"name": name, "memory": 512, "vcpus": 1, "disks": [{"zvol": f"zroot/xen/{name}-disk0", "size": "20G"}],
            "vifs": [{"bridge": "bridge0"}], "vnc": None, "installed": True, "move_disks": True}


def fill(host, volume: str, data_bytes: int, seed: int) -> None:
    from simhost import zfs

    rng = random.Random(seed)
    block = bytes(rng.getrandbits(8) for _ in range(4096)) * (RECORD // 4096)
    for index in range(data_bytes // RECORD):
        zfs.write_volume(host, volume, index * RECORD, block[index % 7:] + block[:index % 7])


def dirty(host, volume: str, change_bytes: int, rng: random.Random) -> None:
    from simhost import zfs

    for _ in range(change_bytes // RECORD):
        zfs.write_volume(host, volume, rng.randrange(VOLSIZE // RECORD) * RECORD, rng.randbytes(64) * (RECORD // 64))


def down_interval(fleet, name: str, since: float) -> float:
    """Seconds between the guest's end on the source and its start on the target (xl's records)."""

    [end] = [e for e in fleet.hosts["xen1"].domain_ends() if e["name"] == name and e["ms"] / 1000 >= since]
    started = float(fleet.hosts["xen2"].sim_state()["domains"][name]["start_time"])
    return started - end["ms"] / 1000


def replicated(fleet, inventory: Path, change: int, log) -> dict:
    name, volume = "warm", "zroot/xen/warm-disk0"
    rng = random.Random(2)
    seen: set[str] = set()
    stop = threading.Event()

    def guest_writes():   # 1% of the volume changes after each round's snapshot
        while not stop.is_set():
            for snap in fleet.hosts["xen1"].volumes():
                if snap.startswith(f"{volume}@xenmove-") and not snap.endswith("-final") and snap not in seen:
                    seen.add(snap)
                    dirty(fleet.hosts["xen1"], volume, change, rng)
            time.sleep(0.05)

    writer = threading.Thread(target=guest_writes, daemon=True)
    writer.start()
    begun = time.time()
    fleet.write_inventory(inventory, {"xen1": DOM0, "xen2": {**DOM0, "xen_guests": [guest(name)]}})
    run = pyinfra(inventory, "deploys/guests.py", timeout=3600)
    total = time.time() - begun
    stop.set()
    if run.returncode != 0:
        raise SystemExit(f"replicated move failed:\n{run.output[-3000:]}")
    said = re.search(r"moved to xen2: (.+?) sent in ([0-9.]+)s \((\d+) round\(s\).*?final incremental (.+?)\); "
                     r"downtime ([0-9.]+)s", run.output)
    log(f"replicated: {said.group(0) if said else run.output[-2000:]}")
    return {"total": total, "downtime": down_interval(fleet, name, begun), "reported_downtime": float(said.group(5)),
            "sent": said.group(1), "rounds": int(said.group(3)), "final": said.group(4)}


def cold(fleet, log) -> dict:
    """The move without replication while running: stop, full send, start (what users do by hand)."""

    name, volume = "cold", "zroot/xen/cold-disk0"
    a, b = fleet.hosts["xen1"], fleet.hosts["xen2"]
    begun = time.time()
    for command in (f"xl shutdown -w -w {name}", f"zfs snapshot {volume}@cold",
                    f"zfs send {volume}@cold | ssh xen2 zfs receive -o volmode=dev {volume}",
                    f"ssh xen2 sh -c 'cat > /usr/local/etc/xen/{name}.cfg' < /usr/local/etc/xen/{name}.cfg",
                    f"ssh xen2 xl create /usr/local/etc/xen/{name}.cfg"):
        res = a.run(command, timeout=3600)
        if res.returncode != 0:
            raise SystemExit(f"cold move: {command}: {res.stderr}")
    total = time.time() - begun
    assert name in b.sim_state()["domains"]
    log(f"cold: {total:.1f}s")
    return {"total": total, "downtime": down_interval(fleet, name, begun)}


def bench_zfs_move(data: int, change_percent: float, log=print) -> str:
    from simhost.fleet import Fleet

    fleet = Fleet(f"/var/lib/freebsd-xen-sim/bench-zfsmove-{uuid.uuid4().hex[:8]}")
    for name in ("xen1", "xen2"):
        fleet.add(name, "freebsd14")
    fleet.start()
    try:
        inventory = fleet.base_dir / "inventory.py"
        fleet.write_inventory(inventory, {"xen1": DOM0, "xen2": DOM0})
        assert pyinfra(inventory, "deploys/dom0.py").returncode == 0
        fleet.write_inventory(inventory, {"xen1": {**DOM0, "xen_guests": [guest("warm"), guest("cold")]}, "xen2": DOM0})
        run = pyinfra(inventory, "deploys/guests.py")
        assert run.returncode == 0, run.output[-3000:]
        log(f"writing {data / 2**30:.1f} GiB into each 20G volume")
        fill(fleet.hosts["xen1"], "zroot/xen/warm-disk0", data, 1)
        fill(fleet.hosts["xen1"], "zroot/xen/cold-disk0", data, 1)
        change = int(VOLSIZE * change_percent / 100) // RECORD * RECORD
        warm = replicated(fleet, inventory, change, log)
        # the cold guest, declared on xen1 still, is moved by hand
        cold_result = cold(fleet, log)
    finally:
        fleet.stop()
    rows = [
        ("replicated (move_disks)", warm["downtime"], warm["total"],
         f"{warm['sent']} sent, {warm['rounds']} round(s) while running, final {warm['final']}"),
        ("cold (stop, full send, start)", cold_result["downtime"], cold_result["total"], ""),
    ]
    lines = [f"20G zvol, {data / 2**30:.1f} GiB written, {change_percent:g}% ({change / 2**20:.0f} MiB) "
             "changed between rounds", "| move | downtime s | total s | notes |", "| --- | --- | --- | --- |"]
    lines += [f"| {name} | {down:.1f} | {total:.1f} | {notes} |" for name, down, total, notes in rows]
    lines.append(f"downtime ratio replicated/cold: {warm['downtime'] / cold_result['downtime']:.2f}")
    return "\n".join(lines)
