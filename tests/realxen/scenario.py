"""
The xl scenario, run through the project's own code against a target Dom0:
the real Xen (``RealTarget``, a VM of vm.py) or simhost's simulated one
(``SimTarget``). Each step records xl's exit status, stdout, stderr and the
domains ``xl list`` shows afterwards, as the product's parsers read them.

    steps = run_scenario(target)      # [Step(id, command, rc, stdout, stderr, domains, parsed)]
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import asdict, dataclass, field

from facts.xl import NAMELESS, parse_xl_info, parse_xl_list, parse_xl_list_long, xl_list_long_command
from operations.drift import Drift, guest_drift
from operations.guests import create_command, shutdown_command
from spec.guest import GuestSpec
from spec.xlcfg import config_path, render_xl_cfg

GUEST_KERNEL = "/root/guest/vmlinuz"
GUEST_RAMDISK = "/root/guest/initrd.gz"
DISK_SIZE = "64M"


def guest_spec(name: str, *, memory: int = 128, maxmem: int = 256, cmdline: str = "", disk: str | None = None,
               bridge: str = "bridge0") -> GuestSpec:
    """
    A small PVH guest: Debian's kernel, the busybox initramfs of image.py.
    PVH, not PV: live migration needs log-dirty mode, which Debian's Xen
    (built without shadow paging) has only through HAP, i.e. for HVM/PVH.
    """

    return GuestSpec(
        name=name,
        type="pvh",
        memory=memory,
        maxmem=maxmem,
        vcpus=1,
        maxvcpus=2,
        disks=[{"file": disk or f"/vm/{name}.img", "size": DISK_SIZE}],
        vifs=[{"bridge": bridge}],
        extra={
            "kernel": GUEST_KERNEL,
            "ramdisk": GUEST_RAMDISK,
            "extra": f"console=hvc0 quiet {cmdline}".strip(),
        },
    )


OBEDIENT = guest_spec("rxguest")
STUBBORN = guest_spec("rxstubborn", cmdline="realxen_guest=ignore-shutdown")
# More than either Dom0 has: the QEMU VM (1.5 GiB) and simhost's server.
TOO_BIG = guest_spec("rxbig", memory=262144, maxmem=262144)
NO_DISK = guest_spec("rxnodisk", disk="/vm/missing.img")
NO_BRIDGE = guest_spec("rxnobridge", bridge="bridge7")
GUESTS = (OBEDIENT, STUBBORN, TOO_BIG, NO_DISK, NO_BRIDGE)


@dataclass
class Step:
    id: str
    command: str
    rc: int
    stdout: str
    stderr: str
    domains: list[dict] = field(default_factory=list)
    parsed: object = None
    seconds: float = 0.0


def named_domains(text: str) -> list:
    """
    xl list as facts/xl.py reads it, minus the nameless: a domain libxl has just
    destroyed can still be listed as (null) for a moment (the real 4.17 showed one
    on the sender right after xl migrate returned, once in several runs). Whether a
    listing catches it is the hypervisor's timing, not xl's doing; simhost removes a
    domain at once.
    """

    return [d for d in parse_xl_list(text) if d.name != NAMELESS]


def domains_of(text: str) -> list[dict]:
    """xl list as facts/xl.py reads it, minus what must differ (domid, cpu time)."""

    return [
        {"name": d.name, "mem_mib": d.mem_mib, "vcpus": d.vcpus, "state": sorted(d.state),
         "state_flags": d.state_flags}
        for d in named_domains(text)
    ]


class Scenario:
    def __init__(self, target):
        self.target = target
        self.steps: list[Step] = []

    def step(self, step_id: str, command: str, *, parse=None, timeout: float = 300, list_after: bool = True,
             settle: int = 0) -> Step:
        started = time.monotonic()
        res = self.target.run(command, timeout=timeout)
        seconds = time.monotonic() - started
        domains = []
        if list_after:
            # settle: mem-set and vcpu-set take effect when the guest acts on them.
            listing = self.target.run(f"sleep {settle}; xl list" if settle else "xl list")
            domains = domains_of(listing.stdout)
        parsed = None
        if parse is not None:
            try:
                parsed = parse(res.stdout)
            except Exception as error:  # the parser's failure is the finding
                parsed = {"parser_error": f"{type(error).__name__}: {error}"}
        step = Step(step_id, command, res.rc, res.stdout, res.stderr, domains, parsed, round(seconds, 1))
        self.steps.append(step)
        print(f"  {step_id:<28} rc={res.rc:<3} {seconds:6.1f}s", flush=True)
        return step


def info_shape(text: str) -> dict:
    info = parse_xl_info(text)
    return {key: type(value).__name__ for key, value in info.items()}


def long_shape(text: str) -> dict:
    """What the product reads from xl list -l (operations/drift.py, operations/migrate.py)."""

    entries = parse_xl_list_long(text)
    out = {}
    for name, entry in entries.items():
        config = entry.get("config", {})
        build = config.get("b_info", {})
        out[name] = {
            "type": config.get("c_info", {}).get("type"),
            "max_memkb": build.get("max_memkb"),
            "target_memkb": build.get("target_memkb"),
            "max_vcpus": build.get("max_vcpus"),
            "disks": [{k: d.get(k) for k in ("pdev_path", "vdev", "format", "readwrite", "is_cdrom")}
                      for d in config.get("disks", [])],
            "nics": [{k: n.get(k) for k in ("bridge", "mac", "devid")} for n in config.get("nics", [])],
        }
    return out


def drift_of(guest: GuestSpec):
    def parse(text: str) -> dict:
        live = parse_xl_list_long(text).get(guest.name)
        drift = guest_drift(guest, None, live)
        return {"restart": drift.restart, "live": drift.live_commands(guest.name)}
    return parse


def bounded_shutdown_wait(name: str, seconds: int) -> str:
    """
    xl shutdown -w on a guest that may never shut down: give up after
    ``seconds``. xl's stderr goes through a file so the shell's own
    "Terminated" job report (printed or not, at its whim) stays out of it.
    """

    q = shlex.quote(name)
    return (
        f"xl shutdown -w {q} 2>/tmp/shutdown-w.err & pid=$!; i=0; "
        f"while kill -0 $pid 2>/dev/null && [ $i -lt {seconds} ]; do sleep 1; i=$((i+1)); done; "
        f"if kill -0 $pid 2>/dev/null; then echo 'xl shutdown -w still waiting after {seconds}s'; "
        f"kill $pid; wait $pid 2>/dev/null; echo \"killed: $?\"; else wait $pid; echo \"xl shutdown -w exited $?\"; fi; "
        f"cat /tmp/shutdown-w.err >&2"
    )


def wait_gone(name: str, seconds: int) -> str:
    q = shlex.quote(name)
    return (f"i=0; while xl list {q} >/dev/null 2>&1 && [ $i -lt {seconds} ]; do sleep 1; i=$((i+1)); done; "
            f"xl list {q}")


def run_scenario(target, s: Scenario | None = None) -> list[Step]:
    """Run every step on ``target``; ``s.steps`` holds those done even if one raises."""

    s = s or Scenario(target)
    print(f"scenario on {target.label}", flush=True)
    target.prepare([g for g in GUESTS])
    for guest in GUESTS:
        target.put(config_path(guest), render_xl_cfg(guest))
    for guest in (OBEDIENT, STUBBORN, TOO_BIG, NO_BRIDGE):
        # The product creates file disks with truncate(1) (operations/guests.py disks()).
        target.run(f"truncate -s {DISK_SIZE} {shlex.quote(guest.disks[0].target)}")

    s.step("01-xl-info", "xl info", parse=info_shape, list_after=False)
    s.step("02-xl-list", "xl list", parse=domains_of, list_after=False)
    s.step("03-xl-list-l", xl_list_long_command(), parse=long_shape, list_after=False)
    s.step("04-create", create_command(OBEDIENT), timeout=600)
    s.step("05-list-l-guest", xl_list_long_command(OBEDIENT.name), parse=long_shape, list_after=False)
    s.step("06-drift-after-create", xl_list_long_command(OBEDIENT.name), parse=drift_of(OBEDIENT), list_after=False)
    s.step("07-create-duplicate", create_command(OBEDIENT))
    # The sets below are acted on by the guest's kernel and init: on a loaded machine the
    # guest may still be booting, and its answer would depend on the machine's load.
    target.wait_guest_up(OBEDIENT.name)
    s.step("08-mem-set-within", Drift(memory_mib=192).live_commands(OBEDIENT.name)[0], settle=5)
    s.step("09-mem-set-beyond", Drift(memory_mib=512).live_commands(OBEDIENT.name)[0], settle=5)
    s.step("10-vcpu-set-within", Drift(vcpus=2).live_commands(OBEDIENT.name)[0], settle=5)
    s.step("11-vcpu-set-beyond", Drift(vcpus=3).live_commands(OBEDIENT.name)[0], settle=5)
    s.step("11b-vcpu-set-overcommit", Drift(vcpus=64).live_commands(OBEDIENT.name)[0])
    s.step("11c-list-settled", "sleep 3; xl list", parse=domains_of, list_after=False)
    s.step("12-list-l-after-sets", xl_list_long_command(OBEDIENT.name), parse=long_shape, list_after=False)
    s.step("13-create-stubborn", create_command(STUBBORN), timeout=600)
    target.wait_guest_up(OBEDIENT.name)
    target.wait_guest_up(STUBBORN.name)
    s.step("14-shutdown-w-obedient", f"xl shutdown -w {OBEDIENT.name}", timeout=300)
    s.step("15-gone-obedient", wait_gone(OBEDIENT.name, 30), timeout=120)
    s.step("16-shutdown-w-stubborn", bounded_shutdown_wait(STUBBORN.name, 20), timeout=120)
    s.step("17-destroy-stubborn", f"xl destroy {STUBBORN.name}")
    s.step("18-gone-stubborn", wait_gone(STUBBORN.name, 30), timeout=120)
    s.step("19-create-too-much-memory", create_command(TOO_BIG), timeout=600)
    s.step("20-create-missing-disk", create_command(NO_DISK), timeout=600)
    s.step("21-create-missing-bridge", create_command(NO_BRIDGE), timeout=600)
    # The product's own stop (operations/guests.py shutdown_command): polls until gone, destroys on timeout.
    s.step("22-create-again", create_command(OBEDIENT), timeout=600)
    s.step("23-create-stubborn-again", create_command(STUBBORN), timeout=600)
    target.wait_guest_up(OBEDIENT.name)
    target.wait_guest_up(STUBBORN.name)
    s.step("24-product-stop-obedient", shutdown_command(OBEDIENT, 60), timeout=300)
    s.step("25-product-stop-stubborn", shutdown_command(STUBBORN, 10), timeout=300)
    s.step("26-list-end", "xl list", parse=domains_of)
    return s.steps


def dump(steps: list[Step]) -> str:
    return json.dumps([asdict(step) for step in steps], indent=2, sort_keys=True)
