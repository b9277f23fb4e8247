"""
How a running guest differs from its declaration, and which differences can be
applied live. Pure: compares the declaration with ``xl list``'s live memory and
vCPUs and ``xl list -l``'s live configuration (libxl's JSON).

    drift = guest_drift(spec, domain, live_json)
    drift.live_commands("web")   # ["xl mem-set web 2048m"]
    drift.restart                # ["vifs: ..."]
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from facts.xl import XlDomain
from spec.guest import GuestSpec
from spec.xlcfg import vif_macs

# xl list rounds a domain's memory; a few MiB either way is not drift.
MEMORY_TOLERANCE_MIB = 8


@dataclass
class Drift:
    memory_mib: int | None = None  # new live target, within maxmem
    vcpus: int | None = None  # new live vCPU count, within maxvcpus
    restart: list[str] = field(default_factory=list)  # changes that need a restart
    install_finished: bool = False
    memory_was: int | None = None  # the running values the live changes replace
    vcpus_was: int | None = None

    @property
    def live(self) -> bool:
        return self.memory_mib is not None or self.vcpus is not None

    @property
    def needs_restart(self) -> bool:
        return bool(self.restart)

    @property
    def empty(self) -> bool:
        return not self.live and not self.restart

    def live_changes(self) -> list[str]:
        """The live changes in plain words: ``memory 1024 -> 1536 MiB (live: xl mem-set)``."""

        changes = []
        if self.memory_mib is not None:
            changes.append(f"memory {self.memory_was} -> {self.memory_mib} MiB (live: xl mem-set)")
        if self.vcpus is not None:
            changes.append(f"vcpus {self.vcpus_was} -> {self.vcpus} (live: xl vcpu-set)")
        return changes

    def live_commands(self, name: str) -> list[str]:
        commands = []
        if self.memory_mib is not None:
            commands.append(f"xl mem-set {shlex.quote(name)} {self.memory_mib}m")
        if self.vcpus is not None:
            commands.append(f"xl vcpu-set {shlex.quote(name)} {self.vcpus}")
        return commands


def desired_disks(guest: GuestSpec) -> list[tuple[str, str, bool]]:
    disks = [(d.vdev, d.target, False) for d in guest.disks]
    if guest.cdrom is not None and not guest.installed:
        disks.append((guest.cdrom_vdev, guest.cdrom.path, True))
    return sorted(disks)


def live_disks(config: dict) -> list[tuple[str, str, bool]]:
    return sorted(
        (d.get("vdev", ""), d.get("pdev_path", ""), bool(d.get("is_cdrom", 0))) for d in config.get("disks", [])
    )


def desired_vifs(guest: GuestSpec) -> list[tuple[str, str]]:
    return [(vif.bridge, mac.lower()) for vif, mac in zip(guest.vifs, vif_macs(guest))]


def live_vifs(config: dict) -> list[tuple[str, str]]:
    return [(n.get("bridge", "xenbr0"), n.get("mac", "").lower()) for n in config.get("nics", [])]


def describe(items) -> str:
    return ", ".join(" ".join(str(part) for part in item if part not in (True, False)) for item in items) or "none"


def vif_changes(have: list[tuple[str, str]], want: list[tuple[str, str]]) -> list[str]:
    """``vif 1 added (bridge1, 00:16:3e:..)``, ``vif 0 bridge bridge0 -> bridge1``, ``vif 2 removed``."""

    changes = []
    for index in range(max(len(have), len(want))):
        if index >= len(have):
            changes.append(f"vif {index} added ({want[index][0]}, {want[index][1]})")
        elif index >= len(want):
            changes.append(f"vif {index} removed ({have[index][0]}, {have[index][1]})")
        elif have[index] != want[index]:
            parts = [
                f"{what} {old} -> {new}"
                for what, old, new in zip(("bridge", "mac"), have[index], want[index])
                if old != new
            ]
            changes.append(f"vif {index} " + ", ".join(parts))
    return changes


def disk_changes(have: list[tuple[str, str, bool]], want: list[tuple[str, str, bool]]) -> list[str]:
    """``disk hdb added (/dev/zvol/...)``, ``cdrom hdc detached``, ``disk hda /a -> /b`` by vdev."""

    def kind(cdrom: bool) -> str:
        return "cdrom" if cdrom else "disk"

    was = {vdev: (target, cdrom) for vdev, target, cdrom in have}
    now = {vdev: (target, cdrom) for vdev, target, cdrom in want}
    changes = []
    for vdev, (target, cdrom) in now.items():
        if vdev not in was:
            changes.append(f"{kind(cdrom)} {vdev} {'attached' if cdrom else 'added'} ({target})")
        elif was[vdev] != (target, cdrom):
            changes.append(f"{kind(cdrom)} {vdev} {was[vdev][0]} -> {target}")
    for vdev, (target, cdrom) in was.items():
        if vdev not in now:
            changes.append(f"{kind(cdrom)} {vdev} {'detached' if cdrom else 'removed'} ({target})")
    return changes


def guest_drift(guest: GuestSpec, domain: XlDomain | None, live: dict | None) -> Drift:
    drift = Drift()
    config = (live or {}).get("config", {})
    build = config.get("b_info", {})
    max_mem = int(build.get("max_memkb", 0)) // 1024 or None
    max_vcpus = int(build.get("max_vcpus", 0)) or None

    wanted_maxmem = guest.maxmem or guest.memory
    if max_mem is not None and abs(max_mem - wanted_maxmem) > MEMORY_TOLERANCE_MIB:
        drift.restart.append(f"maxmem {max_mem}M -> {wanted_maxmem}M")
    wanted_maxvcpus = guest.maxvcpus or guest.vcpus
    if max_vcpus is not None and max_vcpus != wanted_maxvcpus:
        drift.restart.append(f"maxvcpus {max_vcpus} -> {wanted_maxvcpus}")

    if domain is not None:
        # xl mem-set / vcpu-set set a target that xl list -l shows at once; xl list
        # shows what the guest has taken up, later or (without PV drivers) never
        # (real Xen 4.17). The target decides, so a guest that is still
        # ballooning is not given the same target again.
        memory = int(build.get("target_memkb", 0) or 0) // 1024 or domain.mem_mib
        avail = build.get("avail_vcpus")
        vcpus = len(avail) if isinstance(avail, list) and avail else domain.vcpus
        if abs(memory - guest.memory) > MEMORY_TOLERANCE_MIB:
            if guest.memory <= (max_mem or guest.memory):
                drift.memory_mib, drift.memory_was = guest.memory, memory
            else:
                drift.restart.append(f"memory {memory}M -> {guest.memory}M (above the running maxmem)")
        if vcpus != guest.vcpus:
            if guest.vcpus <= (max_vcpus or guest.vcpus):
                drift.vcpus, drift.vcpus_was = guest.vcpus, vcpus
            else:
                drift.restart.append(f"vcpus {vcpus} -> {guest.vcpus} (above the running maxvcpus)")

    if live is not None:
        guest_type = config.get("c_info", {}).get("type")
        if guest_type and guest_type != guest.type:
            drift.restart.append(f"type {guest_type} -> {guest.type}")
        have, want = live_disks(config), desired_disks(guest)
        if have != want:
            had_cdrom = any(cdrom for _, _, cdrom in have)
            if guest.installed and had_cdrom and [d for d in have if not d[2]] == [d for d in want if not d[2]]:
                drift.install_finished = True
                drift.restart.append("installed: detach the cdrom and boot from disk")
            else:
                drift.restart += disk_changes(have, want) or [f"disks {describe(have)} -> {describe(want)}"]
        have_vifs, want_vifs = live_vifs(config), desired_vifs(guest)
        if have_vifs != want_vifs:
            drift.restart += vif_changes(have_vifs, want_vifs) or [f"vifs {describe(have_vifs)} -> {describe(want_vifs)}"]
    return drift
