"""
Whether a guest disturbed a real-Xen run: xl's per-domain logs
(targets.XL_LOGS) record each shutdown with its reason, and a reboot or
crash that no step asked for makes the run compare the guest's luck, not xl.
No product import: ``./run realxen`` loads this for every command.

    steps = run_undisturbed(run_once, "the scenario on real xl")  # run_once() -> (steps, xl_logs)
"""

from __future__ import annotations

import re

# xl's daemon logs why each domain it watches shut down (tools/xl/xl_vmcontrol.c:
# "Domain %u has shut down, reason code %d 0x%x"); the codes are libxl's
# shutdown reasons (libxl_types.idl): 0 poweroff, 1 reboot, 2 suspend, 3 crash,
# 4 watchdog, 5 soft_reset. The scenarios ask only for a poweroff (xl shutdown)
# and a suspend (xl migrate): any other came from the guest itself.
SHUTDOWN_LOGGED = re.compile(r"^Domain (\d+) has shut down, reason code (\d+) 0x[0-9a-f]+$")
ASKED_FOR = {0, 2}
REASONS = {1: "rebooted", 3: "crashed", 4: "its watchdog fired", 5: "asked for a soft reset"}


def guests_own_shutdowns(xl_logs: str) -> list[str]:
    """
    The shutdowns in xl's per-domain logs (targets.XL_LOGS) that no step asked
    for: a guest that rebooted or crashed on its own. On the real Xen under
    QEMU's emulation a guest did so once (xl restarted it: a new domid, paused
    while being rebuilt); the run then compares the guest's luck, not xl.
    """

    found = []
    log = "?"
    for line in xl_logs.splitlines():
        if line.startswith("== "):
            log = line[3:]
            continue
        line = line.strip()
        match = SHUTDOWN_LOGGED.match(line)
        if match and int(match.group(2)) not in ASKED_FOR:
            what = REASONS.get(int(match.group(2)), f"shut down for reason {match.group(2)}")
            found.append(f"{log}: domain {match.group(1)} {what} ({line!r})")
    return found


class GuestsDisturbed(RuntimeError):
    """Guests rebooted or crashed on their own in every attempt: the real run compares nothing."""


def run_undisturbed(run_once, what: str, attempts: int = 2):
    """
    ``run_once()`` -> (result, xl_logs): its result, unless a guest shut itself
    down during it (guests_own_shutdowns); then once more on fresh VMs. Each
    such shutdown is printed with xl's own log line as the evidence.
    """

    for attempt in range(1, attempts + 1):
        result, xl_logs = run_once()
        disturbed = guests_own_shutdowns(xl_logs)
        if not disturbed:
            return result
        for line in disturbed:
            print(f"realxen: {what}, attempt {attempt}: the guest's own doing, not xl's: {line}", flush=True)
        if attempt < attempts:
            print(f"realxen: {what}: its results would compare the guest's luck: running it again on fresh VMs",
                  flush=True)
    raise GuestsDisturbed(f"{what}: guests rebooted or crashed on their own in all {attempts} attempts "
                          f"(see xl's logs above): nothing to compare")
