"""
ZFS volumes (zvols), the usual backing store for DomU disks.

.. code:: python

    from facts.zfs import ZfsVolumes
"""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api import FactBase

ZFS_VOLUMES_COMMAND = "zfs list -H -p -o name,volsize,volmode,receive_resume_token -t volume"


@dataclass(frozen=True)
class ZfsVolume:
    name: str
    volsize: int  # bytes
    volmode: str  # "default", "geom", "dev", "none"; "-" when unknown
    # zfsprops(7) receive_resume_token: "-" unless a `zfs receive -s` into it was cut
    # (the volume is then incomplete: its data must not be used, see operations.zfsmove)
    resume_token: str = "-"

    @property
    def complete(self) -> bool:
        return self.resume_token in ("-", "")

    @property
    def device(self) -> str:
        return f"/dev/zvol/{self.name}"


def parse_zfs_volumes(text: str, with_token: bool = False) -> dict[str, ZfsVolume]:
    """
    Parse ``zfs list -H -p -o name,volsize,volmode[,receive_resume_token] -t
    volume`` (tab separated, exact byte sizes; ``-`` for a value ZFS does not
    know) into ``{name: ZfsVolume}``. A line that is not that is an error
    (ValueError): a volume the parser skipped would be taken for absent.
    ``with_token``: the token column was asked for, so a line without it is
    an error too (an interrupted receive must never read as complete).
    """

    volumes: dict[str, ZfsVolume] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) not in ((4,) if with_token else (3, 4)) or not fields[0] or not (fields[1].isdigit() or fields[1] == "-"):
            raise ValueError(f"unexpected zfs list line: {line[:200]!r}")
        name, volsize, volmode = fields[:3]
        token = fields[3] if len(fields) == 4 else "-"
        volumes[name] = ZfsVolume(name=name, volsize=int(volsize) if volsize.isdigit() else 0,
                                  volmode=volmode or "-", resume_token=token or "-")
    return volumes


class ZfsVolumes(FactBase):
    """
    Returns every ZFS volume with its size in bytes and its volmode.

    .. code:: python

        {"zroot/xendisk0": ZfsVolume(name="zroot/xendisk0", volsize=21474836480, volmode="dev")}
    """

    default = dict

    def command(self) -> str:
        return ZFS_VOLUMES_COMMAND

    def requires_command(self) -> str:
        return "zfs"

    def process(self, output: list[str]) -> dict[str, ZfsVolume]:
        return parse_zfs_volumes("\n".join(output))


@dataclass(frozen=True)
class ZfsSnapshot:
    name: str  # volume@snapshot
    guid: str  # the same snapshot on every pool it was sent to has the same guid
    createtxg: int  # creation order on this pool

    @property
    def short(self) -> str:
        return self.name.partition("@")[2]


def zfs_snapshots_argv(volume: str) -> tuple[str, ...]:
    """The words of ``zfs list`` for the snapshots of ``volume`` that ``parse_zfs_snapshots`` reads."""

    return ("zfs", "list", "-H", "-p", "-t", "snapshot", "-o", "name,guid,createtxg", volume)


def parse_zfs_snapshots(text: str) -> list[ZfsSnapshot]:
    """
    Parse ``zfs list -H -p -t snapshot -o name,guid,createtxg VOLUME``, oldest
    first. A line that is not three fields with an ``@`` name and numbers is
    an error (ValueError): what a move replicates is never decided on a guess.
    """

    snapshots = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) != 3 or "@" not in fields[0] or not fields[1].isdigit() or not fields[2].isdigit():
            raise ValueError(f"unexpected zfs list line: {line[:200]!r}")
        snapshots.append(ZfsSnapshot(fields[0], fields[1], int(fields[2])))
    return sorted(snapshots, key=lambda s: s.createtxg)
