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
        # url -> ("data", bytes) | ("error", message) | ("truncate", nbytes): see mirror_add()
        self.mirror: dict[str, tuple[str, object]] = {}
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
        for url in self.mirror:
            self._mirror_apply(host, url)
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

    # -- the download mirror fetch(1) serves from --------------------------------------
    # The hosts have no network: fetch(1) serves http(s)/ftp URLs from /.sim/mirror/<host>/<path>
    # inside each root (see simhost/tools/fetch).  These set it up on every host, present
    # and future.
    @staticmethod
    def _mirror_path(url: str) -> str:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in ("http", "https", "ftp"):
            raise ValueError(f"mirror URLs are http(s)/ftp URLs, got {url!r}")
        hostport, _, path = rest.partition("/")
        host = hostport.rsplit("@", 1)[-1].split(":", 1)[0]
        if not host or not path or ".." in path.split("/"):
            raise ValueError(f"bad mirror URL {url!r}")
        return f"/.sim/mirror/{host}/{path.split('?', 1)[0]}"

    def _mirror_apply(self, host: SimHost, url: str) -> None:
        dest = host.path(self._mirror_path(url))
        for suffix in ("", ".@error", ".@truncate"):
            Path(str(dest) + suffix).unlink(missing_ok=True)
        entry = self.mirror.get(url)
        if entry is None:
            return
        kind, value = entry
        dest.parent.mkdir(parents=True, exist_ok=True)
        if kind == "data":
            dest.write_bytes(value)  # type: ignore[arg-type]
        elif kind == "error":
            Path(str(dest) + ".@error").write_text(f"{value}\n")
        elif kind == "truncate":
            data, nbytes = value  # type: ignore[misc]
            dest.write_bytes(data)
            Path(str(dest) + ".@truncate").write_text(f"{nbytes}\n")

    def _mirror_set(self, url: str, entry: tuple[str, object] | None) -> None:
        self._mirror_path(url)  # validate
        if entry is None:
            self.mirror.pop(url, None)
        else:
            self.mirror[url] = entry
        for host in self.hosts.values():
            self._mirror_apply(host, url)

    def mirror_add(self, url: str, content: bytes | str | os.PathLike) -> None:
        """Serve `content` (bytes, text, or a file's path) at `url` to fetch(1) on every host."""
        if isinstance(content, str):
            data = content.encode()
        elif isinstance(content, bytes):
            data = content
        else:
            data = Path(content).read_bytes()
        self._mirror_set(url, ("data", data))

    def mirror_fail(self, url: str, error: str = "Not Found") -> None:
        """Make `url` fail with libfetch's message `error` ("Not Found", "Forbidden",
        "Connection refused", ...): fetch prints "fetch: URL: <error>" and exits 1."""
        self._mirror_set(url, ("error", error))

    def mirror_truncate(self, url: str, content: bytes | str, nbytes: int) -> None:
        """Serve `content` at `url` but drop the connection after `nbytes` bytes: fetch keeps
        the partial file and says "PATH appears to be truncated: nbytes/total bytes"."""
        data = content.encode() if isinstance(content, str) else content
        self._mirror_set(url, ("truncate", (data, nbytes)))

    def mirror_remove(self, url: str) -> None:
        """Forget `url` (fetch then says "Not Found"; an unknown host "No address record")."""
        self._mirror_set(url, None)

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
