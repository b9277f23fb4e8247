"""A set of simulated hosts, each behind its own sshd on 127.0.0.1, plus the supervisor.

    with Fleet() as fleet:
        xen1 = fleet.add("xen1", "freebsd14")
        fleet.start()
        data = fleet.host_data("xen1")   # pyinfra connection data
"""

from __future__ import annotations

import os
import pprint
import secrets
import shutil
import time
from pathlib import Path

from .host import SimHost
from .sshd import SshServer, check_chroot_path, free_port, keygen, processes_rooted_at
from .supervisor import Supervisor, power_cycle
from .variants import Variant

# Not /tmp: sshd's ChrootDirectory needs root-owned, non-group/other-writable components.
DEFAULT_BASE = Path("/var/lib/freebsd-xen-sim")


def _mkdirs_0755(path: Path) -> None:
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir()
        os.chmod(d, 0o755)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale(base: Path = DEFAULT_BASE) -> list[Path]:
    """Remove fleets under `base` whose owning process died without stop() (a killed
    pytest, a crashed supervisor): kill their sshds and sessions, delete their roots."""
    removed = []
    if not base.is_dir():
        return removed
    for run in base.iterdir():
        owner = run / "owner.pid"
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            continue
        if _pid_alive(pid):
            continue
        marker = str(run.resolve()) + "/"
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmdline = open(f"/proc/{entry}/cmdline", "rb").read().decode(errors="replace")
                rootlink = os.readlink(f"/proc/{entry}/root")
            except OSError:
                continue
            if marker in cmdline or (rootlink + "/").startswith(marker):
                try:
                    os.kill(int(entry), 9)
                except ProcessLookupError:
                    pass
        shutil.rmtree(run, ignore_errors=True)
        removed.append(run)
    return removed


class Fleet:
    def __init__(self, base_dir: str | os.PathLike | None = None):
        if base_dir is None:
            base_dir = DEFAULT_BASE / f"run-{os.getpid()}-{secrets.token_hex(3)}"
        self.base_dir = Path(base_dir).absolute()
        self.hosts: dict[str, SimHost] = {}
        self.servers: dict[str, SshServer] = {}
        self._supervisor: Supervisor | None = None
        self.started = False
        _mkdirs_0755(self.base_dir)
        os.chmod(self.base_dir, 0o755)
        check_chroot_path(self.base_dir)
        # Lets cleanup_stale() recognise this run once its owner is gone.
        (self.base_dir / "owner.pid").write_text(f"{os.getpid()}\n")

    # -- keys --------------------------------------------------------------------------
    @property
    def client_key(self) -> Path:
        """Private ed25519 key that every host of this fleet accepts for root."""
        return self.base_dir / "client_key"

    @property
    def authorized_keys(self) -> Path:
        return self.base_dir / "authorized_keys"

    def _ensure_keys(self) -> None:
        keygen(self.client_key, "simhost-client")
        shutil.copyfile(self.client_key.with_suffix(".pub"), self.authorized_keys)
        os.chmod(self.authorized_keys, 0o644)

    # -- hosts -------------------------------------------------------------------------
    def add(self, name: str, variant: Variant | str) -> SimHost:
        """Build a fresh host (not booted until start(); booted at once if already started)."""
        if name in self.hosts:
            raise ValueError(f"host {name!r} already in the fleet")
        hostdir = self.base_dir / "hosts" / name
        _mkdirs_0755(hostdir)
        host = SimHost(name, variant, hostdir / "root", 0)
        host.build()
        self.hosts[name] = host
        self.servers[name] = SshServer(host.root, 0, hostdir / "sshd", self.authorized_keys)
        if self.started:
            self._bring_up(name)
        return host

    def _bring_up(self, name: str) -> None:
        host, server = self.hosts[name], self.servers[name]
        if not host.port:
            host.port = server.port = free_port()
        host.boot()
        server.start()

    def start(self) -> "Fleet":
        """Boot every host, start one sshd per host on a free port, start the supervisor."""
        self._ensure_keys()
        for name in self.hosts:
            self._bring_up(name)
        self.started = True
        self._supervisor = Supervisor(self)
        self._supervisor.start()
        return self

    def stop(self, remove: bool = True) -> None:
        """Kill every sshd, session and supervisor; remove the roots (unless remove=False)."""
        if self._supervisor is not None:
            self._supervisor.stop()
            self._supervisor = None
        for server in self.servers.values():
            server.stop()
        for host in self.hosts.values():
            for pid in processes_rooted_at(host.root):
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        self.started = False
        if remove:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> "Fleet":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- power -------------------------------------------------------------------------
    def power_cycle(self, name: str, action: str = "reboot") -> None:
        """Reboot (or power off) a host now, as the supervisor does on reboot(8)."""
        power_cycle(self.hosts[name], self.servers[name], action)

    def power_on(self, name: str) -> None:
        """Boot a host that was powered off (shutdown -p now)."""
        self.hosts[name].path("/.sim/state/powered_off").unlink(missing_ok=True)
        self.hosts[name].boot()
        self.servers[name].start()

    def wait_for_boot(self, name: str, after_boot_count: int, timeout: float = 30) -> None:
        """Block until host `name` has booted past `after_boot_count` and sshd answers."""
        host = self.hosts[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if host.sim_state()["boot_count"] > after_boot_count and self.servers[name].running:
                if not (self._supervisor and self._supervisor.busy(name)):
                    return
            time.sleep(0.05)
        raise TimeoutError(f"{name} did not reboot within {timeout}s")

    # -- pyinfra -----------------------------------------------------------------------
    def host_data(self, host: str | SimHost) -> dict:
        """pyinfra connection data for one host (host keys are throwaway: not checked)."""
        h = self.hosts[host] if isinstance(host, str) else host
        return {
            "ssh_hostname": "127.0.0.1",
            "ssh_port": h.port,
            "ssh_user": "root",
            "ssh_key": str(self.client_key),
            "ssh_strict_host_key_checking": "off",
            "ssh_known_hosts_file": "/dev/null",
            "ssh_allow_agent": False,
            "ssh_look_for_keys": False,
        }

    def connection_data(self) -> dict[str, dict]:
        return {name: self.host_data(name) for name in self.hosts}

    def write_inventory(self, path: str | os.PathLike, extra_data_per_host: dict[str, dict] | None = None,
                        group: str = "simhosts") -> Path:
        """Write a pyinfra inventory .py with every host (group `simhosts`)."""
        extra = extra_data_per_host or {}
        entries = [(name, {**self.host_data(name), **extra.get(name, {})}) for name in self.hosts]
        body = pprint.pformat(entries, indent=4, width=100, sort_dicts=False)
        path = Path(path)
        path.write_text(
            '"""pyinfra inventory of simulated FreeBSD hosts (written by simhost; regenerated '
            'on every run)."""\n\n'
            f"{group} = {body}\n"
        )
        return path
