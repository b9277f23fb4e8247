"""The supervisor: plays init(8) and the power button for every host of a fleet.

reboot(8) inside a host only writes /.sim/power/request (the real one also just asks
init).  The supervisor polls for that file and then power-cycles the host:
rc.shutdown -> kill sshd and every session (connections drop) -> ~0.5 s with nothing
listening (connection refused) -> boot script -> sshd again on the same port.
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
                    action = host.take_power_request()
                except OSError:
                    continue
                if action:
                    with self._lock:
                        self._busy.add(name)
                    # One thread per power cycle so one slow host does not hold up the others.
                    threading.Thread(target=self._cycle, args=(name, action), daemon=True).start()
            self._stop_event.wait(self.interval)

    def _cycle(self, name: str, action: str) -> None:
        try:
            self.fleet.power_cycle(name, action)
        except Exception:  # keep supervising the other hosts
            log.exception("power cycle of %s failed", name)
        finally:
            with self._lock:
                self._busy.discard(name)


def power_cycle(host, server, action: str = "reboot") -> None:
    """Do what a reboot (or power-off) does to `host`, whose sshd is `server`."""
    log.info("%s: %s requested", host.name, action)
    host.shutdown()
    server.stop()
    time.sleep(DOWN_SECONDS)
    if action == "poweroff":
        host.write("/.sim/state/powered_off", "")
        return
    host.path("/.sim/state/powered_off").unlink(missing_ok=True)
    host.boot()
    server.start()
    log.info("%s: up again (boot #%s)", host.name, host.read("/.sim/state/boot_count").strip())
