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
import signal
import subprocess
import time
from pathlib import Path

from .host import SimHost
from .sshd import SshServer, check_chroot_path, descendants, free_port, keygen, processes_rooted_at
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


def unmount_under(base: Path) -> None:
    """Unmount every mount point below `base` (the shared-storage bind mounts), deepest first."""
    prefix = str(Path(base).resolve()) + "/"
    try:
        mounts = [line.split()[1] for line in open("/proc/mounts")]
    except OSError:
        return
    for mnt in sorted((m.replace("\\040", " ") for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True)


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
        unmount_under(run)
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
        # path inside every host -> directory outside (bind-mounted): see share_storage()
        self.shared: dict[str, Path] = {}
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
        """The client key (pyinfra, tests) and each host's root key (xl migrate between hosts)
        are all accepted by every host."""
        keygen(self.client_key, "simhost-client")
        keys = [self.client_key.with_suffix(".pub").read_text()]
        for name in self.hosts:
            key = self.base_dir / "hosts" / name / "root_key"
            keygen(key, f"root@{name}")
            keys.append(key.with_suffix(".pub").read_text())
        tmp = self.authorized_keys.with_suffix(".tmp")
        tmp.write_text("".join(keys))
        os.chmod(tmp, 0o644)
        tmp.rename(self.authorized_keys)

    def _install_root_key(self, name: str) -> None:
        host = self.hosts[name]
        key = self.base_dir / "hosts" / name / "root_key"
        host.write("/root/.ssh/id_ed25519", key.read_text(), 0o600)
        host.write("/root/.ssh/id_ed25519.pub", key.with_suffix(".pub").read_text(), 0o644)

    def _write_ssh_configs(self) -> None:
        """/etc/ssh/ssh_config in every root: the other simulated hosts by name (their sshd on
        127.0.0.1), root's key, no host key checks (throwaway host keys)."""
        blocks = "".join(f"Host {n}\n    HostName 127.0.0.1\n    Port {h.port}\n\n"
                         for n, h in self.hosts.items() if h.port)
        text = (
            "# simulated hosts (written by simhost.Fleet)\n" + blocks
            + "Host *\n    User root\n    IdentityFile /root/.ssh/id_ed25519\n    IdentitiesOnly yes\n"
            "    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n    LogLevel ERROR\n"
        )
        for host in self.hosts.values():
            host.write("/etc/ssh/ssh_config", text)

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
        for inside in self.shared:
            self._mount_shared(host, inside)
        if self.started:
            self._ensure_keys()
            self._install_root_key(name)
            self._bring_up(name)
            self._write_ssh_configs()
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
            self._install_root_key(name)
            self._bring_up(name)
        self._write_ssh_configs()
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
        unmount_under(self.base_dir)
        if remove:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> "Fleet":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- power -------------------------------------------------------------------------
    def power_cycle(self, name: str, action: str = "reboot", via: str = "shutdown(8)") -> None:
        """Reboot (or power off) a host now, as the supervisor does on a request: by default
        as `shutdown -r now` does (rc.shutdown runs first); via="reboot(8)" as `reboot`
        does (no rc.shutdown: running guests lose their power)."""
        power_cycle(self.hosts[name], self.servers[name], action, via)

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
            # only the boot count: the rest of sim_state may be half-written while the host boots
            if host.boot_count() > after_boot_count and self.servers[name].running:
                if not (self._supervisor and self._supervisor.busy(name)):
                    return
            time.sleep(0.05)
        raise TimeoutError(f"{name} did not reboot within {timeout}s")

    # -- storage shared between hosts (live migration) ---------------------------------
    def share_storage(self, inside: str = "/shared") -> Path:
        """One directory, bind-mounted at `inside` in every host (present and future): disk
        files there are the same files on every Dom0, as on an NFS share.  Returns the
        directory outside the roots."""
        if not inside.startswith("/") or inside.rstrip("/") in ("", "/.sim") or ".." in inside.split("/"):
            raise ValueError(f"bad shared path {inside!r}")
        outside = self.base_dir / "shared" / inside.strip("/").replace("/", "_")
        _mkdirs_0755(outside)
        self.shared[inside] = outside
        for host in self.hosts.values():
            self._mount_shared(host, inside)
        return outside

    def _mount_shared(self, host: SimHost, inside: str) -> None:
        mnt = host.path(inside)
        mnt.mkdir(parents=True, exist_ok=True)
        if os.path.ismount(mnt):
            return
        res = subprocess.run(["mount", "--bind", str(self.shared[inside]), str(mnt)], capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"cannot bind-mount shared storage into {host.name}: {res.stderr.strip()}")

    def share_zvol(self, dataset: str, size: str = "1G", volmode: str = "dev") -> None:
        """The same ZFS volume on every host (the simulated stand-in for a zvol exported to
        all Dom0s, e.g. over iSCSI): created where missing with `zfs create -p -V`."""
        for host in self.hosts.values():
            if dataset in host.volumes():
                continue
            res = host.run(f"zfs create -p -V {size} -o volmode={volmode} {dataset}")
            if res.returncode != 0:
                raise RuntimeError(f"{host.name}: {res.stderr.strip()}")

    # -- cutting connections --------------------------------------------------------------
    def cut_ssh(self, name: str, clients: bool = False) -> int:
        """Drop every SSH connection host `name`'s sshd is serving now (its per-connection
        sshd processes are killed; the listener stays, so new connections work).  The
        commands of those sessions see their stdin/stdout close, as on a network cut.
        With clients=True, kill instead the ssh clients running inside host `name` (e.g.
        the transport of an outgoing `xl migrate`).  Returns how many processes died."""
        victims: set[int] = set()
        if clients:
            for pid in processes_rooted_at(self.hosts[name].root):
                try:
                    exe = os.readlink(f"/proc/{pid}/exe")
                except OSError:
                    continue
                if exe.endswith("/usr/bin/ssh"):
                    victims.add(pid)
        else:
            server = self.servers[name]
            if server.proc is None:
                return 0
            # the per-connection sshd processes (monitor and chrooted session); the
            # sessions' commands live on and see their pipes close
            for pid in descendants(server.proc.pid):
                try:
                    if open(f"/proc/{pid}/comm").read().strip().startswith("sshd"):
                        victims.add(pid)
                except OSError:
                    pass
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(victims)

    def guest_behaviour(self, host: str | None, guest: str, behaviour: str | None = None, *,
                        shutdown_seconds: float | None = None, linger_seconds: float | None = None,
                        balloon_seconds: float | None = None) -> None:
        """How guest `guest` answers `xl shutdown` on Dom0 `host` (None: on every host, so it
        keeps its behaviour when it migrates): "pv", "acpi", "unresponsive" or "auto"; see
        SimHost.guest_behaviour.  E.g. fleet.guest_behaviour("xen1", "web", "unresponsive")."""
        for n, h in self.hosts.items():
            if host is None or n == host:
                h.guest_behaviour(guest, behaviour, shutdown_seconds=shutdown_seconds, linger_seconds=linger_seconds,
                                  balloon_seconds=balloon_seconds)

    def set_xen_timing(self, host: str | None = None, *, shutdown_seconds: float | None = None,
                       linger_seconds: float | None = None, balloon_seconds: float | None = None) -> None:
        """Host defaults (None: every host) for how long guests take to shut down (1 s),
        how long they linger shut down before their xl daemon destroys them (0.3 s), and
        how long they take to follow `xl mem-set` / `xl vcpu-set` (1 s)."""
        for n, h in self.hosts.items():
            if host is None or n == host:
                h.set_xen_timing(shutdown_seconds, linger_seconds, balloon_seconds)

    def set_migrate_seconds(self, seconds: float, name: str | None = None, *, start_seconds: float | None = None) -> None:
        """How long the memory transfer of `xl migrate` takes on the sending host(s) (default
        1 s); start_seconds: how long a receiving host takes to start the guest after the go
        (default 1.5 s; meanwhile the sender lists <name>--migratedaway)."""
        for n, host in self.hosts.items():
            if name is None or n == name:
                host.write("/.sim/xen/migrate_seconds", f"{seconds}\n")
                if start_seconds is not None:
                    host.write("/.sim/xen/migrate_start_ms", f"{int(start_seconds * 1000)}\n")

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
