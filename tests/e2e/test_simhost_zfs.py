"""
The simulated zfs(8)'s snapshots and replication, between two simulated hosts over
SSH: snapshot, list -t snapshot, rename, destroy of snapshots, send (full, -i, -I,
-t token, -nvP), receive (-s, -F, -o, -A, receive_resume_token), with OpenZFS's
messages (zfs_main.c, libzfs_sendrecv.c).  The volume's data travels in the stream:
each test checks the bytes on the receiving host.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

pytestmark = pytest.mark.e2e

VOL = "zroot/xen/web-disk0"
FAR = 5 * 2**30 + 100   # inside a 20G volume, far from its start


@pytest.fixture(scope="module")
def pair():
    if os.geteuid() != 0:
        pytest.skip("simhost needs root")
    from simhost import Fleet

    fleet = Fleet()
    fleet.add("xen1", "freebsd14")
    fleet.add("xen2", "freebsd14")
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.fixture
def hosts(pair):
    a, b = pair.hosts["xen1"], pair.hosts["xen2"]
    for h in (a, b):
        h.run("zfs destroy -r zroot/xen; zfs create zroot/xen")
    from simhost import zfs

    zfs.slow_send(a, None)
    return a, b


def run(host, command):
    return host.run(command, timeout=120)


def ok(host, command):
    res = run(host, command)
    assert res.returncode == 0, (command, res.stdout, res.stderr)
    return res.stdout


def test_full_send_over_ssh_carries_a_20g_sparse_volume(hosts):
    from simhost import zfs

    a, b = hosts
    ok(a, f"zfs create -V 20G -o volmode=dev {VOL}")
    zfs.write_volume(a, VOL, FAR, b"pattern!" * 1000)
    ok(a, f"zfs snapshot {VOL}@m1")
    assert ok(a, f"zfs list -H -t snapshot -o name {VOL}") == f"{VOL}@m1\n"
    # the estimate counts the written record only (the volume is sparse)
    estimate = ok(a, f"zfs send -nvP {VOL}@m1").splitlines()
    assert estimate[0].startswith(f"full\t{VOL}@m1\t") and estimate[-1].startswith("size\t")
    assert int(estimate[-1].split("\t")[1]) < 2 * 2**20
    ok(a, f"zfs send {VOL}@m1 | ssh xen2 zfs receive -s -o volmode=dev {VOL}")
    assert zfs.read_volume(b, VOL, FAR, 8000) == b"pattern!" * 1000
    rows = ok(b, f"zfs list -Hp -t all -o name,volsize,volmode,receive_resume_token -r {VOL}").splitlines()
    assert rows == [f"{VOL}\t{20 * 2**30}\tdev\t-", f"{VOL}@m1\t{20 * 2**30}\t-\t-"]
    # the received snapshot is the same snapshot (guid)
    assert ok(a, f"zfs get -H -o value guid {VOL}@m1") == ok(b, f"zfs get -H -o value guid {VOL}@m1")
    assert b.exists(f"/dev/zvol/{VOL}")


def test_incremental_carries_only_what_changed_and_refuses_a_modified_target(hosts):
    from simhost import zfs

    a, b = hosts
    ok(a, f"zfs create -V 20G -o volmode=dev {VOL}")
    zfs.write_volume(a, VOL, 0, b"A" * 2**20)
    ok(a, f"zfs snapshot {VOL}@m1; zfs send {VOL}@m1 | ssh xen2 zfs receive {VOL}")
    zfs.write_volume(a, VOL, FAR, b"B" * 10)
    ok(a, f"zfs snapshot {VOL}@m2")
    size = int(ok(a, f"zfs send -nvP -i @m1 {VOL}@m2").splitlines()[-1].split("\t")[1])
    assert size < 2 * 2**20   # one record, not the volume
    # a second full stream is refused without -F
    res = run(a, f"zfs send {VOL}@m2 | ssh xen2 zfs receive {VOL}")
    assert res.returncode != 0
    assert f"cannot receive new filesystem stream: destination '{VOL}' exists\nmust specify -F to overwrite it" in res.stderr
    # the target written since its snapshot: refused, -F rolls it back
    zfs.write_volume(b, VOL, 0, b"Z")
    res = run(a, f"zfs send -i @m1 {VOL}@m2 | ssh xen2 zfs receive {VOL}")
    assert f"cannot receive incremental stream: destination {VOL} has been modified\nsince most recent snapshot" in res.stderr
    ok(a, f"zfs send -i @m1 {VOL}@m2 | ssh xen2 zfs receive -F {VOL}")
    assert zfs.read_volume(b, VOL, 0, 2) == b"AA" and zfs.read_volume(b, VOL, FAR, 10) == b"B" * 10
    # an incremental whose source is not the target's newest snapshot
    ok(a, f"zfs snapshot {VOL}@m3")
    res = run(a, f"zfs send -i @m1 {VOL}@m3 | ssh xen2 zfs receive {VOL}")
    assert f"cannot receive incremental stream: most recent snapshot of {VOL} does not\nmatch incremental source" in res.stderr


def test_dash_capital_i_sends_the_intermediate_snapshots(hosts):
    a, b = hosts
    ok(a, f"zfs create -s -V 1G {VOL}; zfs snapshot {VOL}@s1")
    ok(a, f"zfs send {VOL}@s1 | ssh xen2 zfs receive {VOL}")
    ok(a, f"zfs snapshot {VOL}@s2; zfs snapshot {VOL}@s3")
    ok(a, f"zfs send -I @s1 {VOL}@s3 | ssh xen2 zfs receive {VOL}")
    assert ok(b, f"zfs list -H -t snapshot -o name {VOL}").split() == [f"{VOL}@s1", f"{VOL}@s2", f"{VOL}@s3"]


def cut_after(fleet, seconds):
    thread = threading.Thread(target=lambda: (time.sleep(seconds), fleet.cut_ssh("xen2")))
    thread.start()
    return thread


@pytest.mark.parametrize("kind", ["full", "incremental"])
def test_a_cut_stream_is_resumed_with_the_token(pair, hosts, kind):
    from simhost import zfs

    a, b = hosts
    ok(a, f"zfs create -V 1G -o volmode=dev {VOL}")
    if kind == "incremental":
        ok(a, f"zfs snapshot {VOL}@m0; zfs send {VOL}@m0 | ssh xen2 zfs receive {VOL}")
    for i in range(6):
        zfs.write_volume(a, VOL, i * 2**20, bytes([65 + i]) * 2**20)
    ok(a, f"zfs snapshot {VOL}@m1")
    send = f"zfs send {VOL}@m1" if kind == "full" else f"zfs send -i @m0 {VOL}@m1"
    zfs.slow_send(a, 400)
    cutter = cut_after(pair, 1.0)
    res = run(a, f"{send} | ssh xen2 zfs receive -s {VOL}")
    cutter.join()
    assert res.returncode != 0
    time.sleep(0.5)
    token = ok(b, f"zfs get -H -o value receive_resume_token {VOL}").strip()
    assert token.startswith("1-")
    # the partial state is no snapshot; a fresh (non-resuming) stream is refused
    assert f"{VOL}@m1" not in ok(b, f"zfs list -H -t snapshot -o name {VOL}")
    res = run(a, f"zfs send {VOL}@m1 | ssh xen2 zfs receive -F {VOL}")
    assert 'contains partially-complete state from "zfs receive -s".' in res.stderr
    contents = ok(a, f"zfs send -nv -t {token}")
    assert f"toname = {VOL}@m1" in contents
    resumed_from = int(contents.split("object = ")[1].split()[0], 16)
    assert resumed_from >= 1   # something arrived before the cut, and is not sent again
    zfs.slow_send(a, None)
    ok(a, f"zfs send -t {token} | ssh xen2 zfs receive -s {VOL}")
    for i in range(6):
        assert zfs.read_volume(b, VOL, i * 2**20 + 7, 3) == bytes([65 + i]) * 3
    assert ok(b, f"zfs get -H -o value receive_resume_token {VOL}") == "-\n"
    assert ok(a, f"zfs get -H -o value guid {VOL}@m1") == ok(b, f"zfs get -H -o value guid {VOL}@m1")


def test_abort_and_a_stale_token(pair, hosts):
    from simhost import zfs

    a, b = hosts
    ok(a, f"zfs create -V 1G {VOL}")
    for i in range(4):
        zfs.write_volume(a, VOL, i * 2**20, b"x" * 2**20)
    ok(a, f"zfs snapshot {VOL}@m1")
    zfs.slow_send(a, 400)
    cutter = cut_after(pair, 0.8)
    run(a, f"zfs send {VOL}@m1 | ssh xen2 zfs receive -s {VOL}")
    cutter.join()
    time.sleep(0.5)
    token = ok(b, f"zfs get -H -o value receive_resume_token {VOL}").strip()
    ok(a, f"zfs destroy {VOL}@m1")
    res = run(a, f"zfs send -t {token} >/dev/null")
    assert res.stderr.strip() == f"cannot resume send: '{VOL}@m1' used in the initial send no longer exists"
    res = run(a, f"zfs send -t 1-{token[2:-2]}00 >/dev/null")
    assert "cannot resume send: resume token is corrupt" in res.stderr
    ok(b, f"zfs receive -A {VOL}")
    assert run(b, f"zfs list {VOL}").returncode == 1
    res = run(b, f"zfs receive -A {VOL}")
    assert res.stderr.strip() == f"cannot resume receive: '{VOL}' does not have any resumable receive state to abort"


def test_snapshot_rename_destroy_messages(hosts):
    a, _ = hosts
    ok(a, f"zfs create -s -V 1G {VOL}; zfs snapshot {VOL}@a")
    assert run(a, f"zfs snapshot {VOL}@a").stderr.strip() == f"cannot create snapshot '{VOL}@a': dataset already exists"
    assert "missing '@' delimiter" in run(a, f"zfs snapshot {VOL}").stderr
    assert run(a, "zfs snapshot zroot/xen/nope@a").stderr.strip() == "cannot open 'zroot/xen/nope': dataset does not exist"
    ok(a, f"zfs rename {VOL}@a @b")
    assert "snapshots must be part of same dataset" in run(a, f"zfs rename {VOL}@b zroot/xen/other@b").stderr
    res = run(a, f"zfs destroy {VOL}")
    assert res.stderr.splitlines()[:3] == [f"cannot destroy '{VOL}': volume has children",
                                           "use '-r' to destroy the following datasets:", f"{VOL}@b"]
    assert run(a, f"zfs destroy {VOL}@a").stderr.strip() == \
        "could not find any snapshots to destroy; check snapshot names."
    ok(a, f"zfs destroy {VOL}@b; zfs destroy {VOL}")


def test_receive_refuses_no_room(hosts):
    from simhost import zfs

    a, b = hosts
    ok(a, f"zfs create -V 1G {VOL}")
    zfs.write_volume(a, VOL, 0, b"x" * 2**20)
    ok(a, f"zfs snapshot {VOL}@m1")
    b.write("/.sim/zfs/pool_bytes", f"{4 * 2**30 + 2**20}\n")   # 1 MiB free
    try:
        res = run(a, f"zfs send {VOL}@m1 | ssh xen2 zfs receive -o refreservation=1G {VOL}")
        assert "cannot receive new filesystem stream: out of space" in res.stderr
        assert run(b, f"zfs list {VOL}").returncode == 1
    finally:
        b.write("/.sim/zfs/pool_bytes", f"{240 * 2**30}\n")
