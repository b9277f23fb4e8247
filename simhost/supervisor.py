"""The supervisor: plays init(8) and the power button for every host of a fleet.

reboot(8) and shutdown(8) inside a host only write /.sim/power/request ("reboot
shutdown(8)", "poweroff reboot(8)", ...).  The supervisor polls for that file and then
power-cycles the host: rc.shutdown under init's timeout (shutdown(8) only: reboot(8)
runs no rc.shutdown) -> kill sshd and every process of the host (connections drop) ->
the guests lose power -> ~0.5 s with nothing listening (connection refused) -> boot
script -> sshd again on the same port.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .fleet import Fleet

log = logging.getLogger("simhost.supervisor")

DOWN_SECONDS = 0.5


class Supervisor(threading.Thread):
    def __init__(self, fleet: "Fleet", interval: float = 0.1):
        super().__init__(name="simhost-supervisor", daemon=True)
        self.fleet = fleet
        self.interval = interval
        self._stop_event = threading.Event()
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def busy(self, name: str) -> bool:
        with self._lock:
            return name in self._busy

    def run(self) -> None:
        while not self._stop_event.is_set():
            for name, host in list(self.fleet.hosts.items()):
                if self.busy(name):
                    continue
                try:
                    request = host.take_power_request()
                except OSError:
                    continue
                if request:
                    with self._lock:
                        self._busy.add(name)
                    # One thread per power cycle so one slow host does not hold up the others.
                    threading.Thread(target=self._cycle, args=(name, *request), daemon=True).start()
            self._stop_event.wait(self.interval)

    def _cycle(self, name: str, action: str, via: str) -> None:
        try:
            self.fleet.power_cycle(name, action, via=via)
        except Exception:  # keep supervising the other hosts
            log.exception("power cycle of %s failed", name)
        finally:
            with self._lock:
                self._busy.discard(name)


def power_cycle(host, server, action: str = "reboot", via: str = "shutdown(8)") -> None:
    """Do what a reboot (or power-off) does to `host`, whose sshd is `server`.

    via="shutdown(8)": init runs rc.shutdown first (bounded by rcshutdown_timeout and
    kern.init_shutdown_timeout); via="reboot(8)": every process is killed at once and the
    running guests lose their power, as reboot(8) does."""
    if via not in ("shutdown(8)", "reboot(8)"):
        raise ValueError(f"via must be 'shutdown(8)' or 'reboot(8)', not {via!r}")
    log.info("%s: %s requested through %s", host.name, action, via)
    if via == "shutdown(8)":
        host.shutdown()
    else:
        host.write("/.sim/state/rc.shutdown.log", "")  # no rc.shutdown, no console output
    server.stop()  # init (or reboot(8)) kills every process: sessions, leftover scripts
    host.power_off_guests()
    host.write("/.sim/state/last_power_via", f"{via}\n")
    time.sleep(DOWN_SECONDS)
    if action == "poweroff":
        host.write("/.sim/state/powered_off", "")
        return
    host.path("/.sim/state/powered_off").unlink(missing_ok=True)
    host.boot()
    server.start()
    log.info("%s: up again (boot #%s)", host.name, host.read("/.sim/state/boot_count").strip())
