"""
ZFS volumes (zvols), the usual backing store for DomU disks.

.. code:: python

    from facts.zfs import ZfsVolumes
"""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api import FactBase

ZFS_VOLUMES_COMMAND = "zfs list -H -p -o name,volsize,volmode -t volume"


@dataclass(frozen=True)
class ZfsVolume:
    name: str
    volsize: int  # bytes
    volmode: str  # "default", "geom", "dev", "none"; "-" when unknown

    @property
    def device(self) -> str:
        return f"/dev/zvol/{self.name}"


def parse_zfs_volumes(text: str) -> dict[str, ZfsVolume]:
    """
    Parse ``zfs list -H -p -o name,volsize,volmode -t volume`` (tab separated,
    exact byte sizes; ``-`` for a value ZFS does not know) into ``{name: ZfsVolume}``.
    """

    volumes: dict[str, ZfsVolume] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            continue
        name, volsize, volmode = (field.strip() for field in fields)
        if not volsize.isdigit():
            volsize = "0"
        volumes[name] = ZfsVolume(name=name, volsize=int(volsize), volmode=volmode or "-")
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
