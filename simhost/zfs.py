"""
A simulated volume's data, from the test's side (what a guest would have written).

The simulated zfs(8) keeps each volume as its 1 MiB records,
``/.sim/zfs/data/<volume>/<index>`` (a record that is not there reads as
zeros: a 20G sparse volume costs nothing), and a snapshot as hard links to the
records it shares. A write here replaces whole records, as ZFS's copy-on-write
does, so the volume's snapshots keep their data and an incremental stream
carries exactly the records written since.

    from simhost import zfs
    zfs.write_volume(fleet.hosts["xen1"], "zroot/xen/web-disk0", 5 * 2**30, b"pattern")
    assert zfs.read_volume(fleet.hosts["xen2"], "zroot/xen/web-disk0", 5 * 2**30, 7) == b"pattern"
    zfs.slow_send(fleet.hosts["xen1"], ms_per_record=200)   # so that a test can cut a transfer
"""

from __future__ import annotations

import os

RECORD = 1024 * 1024


def _record_path(host, volume: str, index: int):
    return host.path(f"/.sim/zfs/data/{volume}/{index:08d}")


def volume_size(host, volume: str) -> int:
    """The volume's volsize in bytes (KeyError when it does not exist)."""

    info = host.volumes()[volume]
    if info["type"] != "volume":
        raise KeyError(volume)
    return int(info["volsize"])


def write_volume(host, volume: str, offset: int, data: bytes) -> None:
    """Write ``data`` at ``offset`` into the volume, record by record (copy-on-write)."""

    size = volume_size(host, volume)
    if offset < 0 or offset + len(data) > size:
        raise ValueError(f"write of {len(data)} bytes at {offset} is outside {volume} ({size} bytes)")
    done = 0
    while done < len(data):
        index, within = divmod(offset + done, RECORD)
        piece = data[done: done + RECORD - within]
        path = _record_path(host, volume, index)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            record = bytearray(path.read_bytes())
        except FileNotFoundError:
            record = bytearray()
        length = min(RECORD, size - index * RECORD)
        record.extend(b"\0" * (length - len(record)))
        record[within: within + len(piece)] = piece
        staging = path.with_name(f".w{os.getpid()}")
        staging.write_bytes(bytes(record))
        os.replace(staging, path)  # a new inode: the snapshots keep the old record
        done += len(piece)


def read_volume(host, volume: str, offset: int, length: int) -> bytes:
    """``length`` bytes of the volume (or of ``volume@snapshot``) from ``offset``; holes read as zeros."""

    out = bytearray()
    while len(out) < length:
        index, within = divmod(offset + len(out), RECORD)
        want = min(length - len(out), RECORD - within)
        try:
            record = _record_path(host, volume, index).read_bytes()
        except FileNotFoundError:
            record = b""
        piece = record[within: within + want]
        out.extend(piece + b"\0" * (want - len(piece)))
    return bytes(out)


def slow_send(host, ms_per_record: int | None) -> None:
    """Make ``zfs send`` on ``host`` take ``ms_per_record`` per record (None: full speed)."""

    path = host.path("/.sim/zfs/send_ms_per_record")
    if ms_per_record is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(f"{int(ms_per_record)}\n")
