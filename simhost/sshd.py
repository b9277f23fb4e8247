"""OpenSSH sshd serving one simulated host through ChrootDirectory.

sshd insists that every component of the ChrootDirectory path is root-owned and not
group/other-writable, and it resolves the user (root, shell /bin/bash) on the real
machine before chrooting: hence /bin/bash inside the root is a tiny wrapper script.
SFTP is served by internal-sftp so pyinfra's uploads need nothing inside the root.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"
PATH_IN_HOST = "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"


def check_chroot_path(root: Path) -> None:
    """Raise with a clear message if sshd would refuse `root` as ChrootDirectory."""
    p = Path(root).resolve()
    for comp in [p, *p.parents]:
        st = comp.stat()
        if st.st_uid != 0 or st.st_mode & 0o022:
            raise RuntimeError(
                f"{comp} must be owned by root and not group/other writable for sshd's "
                f"ChrootDirectory (mode {oct(st.st_mode & 0o7777)}, uid {st.st_uid}); "
                "use a base directory like /var/lib/freebsd-xen-sim/<run>"
            )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_banner(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(16).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"sshd on 127.0.0.1:{port} did not come up in {timeout}s")
        time.sleep(0.05)


def keygen(path: Path, comment: str) -> None:
    if not path.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            check=True,
        )


class SshServer:
    """One `sshd -D -e` process; its files live in `workdir` (outside the chroot)."""

    def __init__(self, root: Path, port: int, workdir: Path, authorized_keys: Path):
        self.root = Path(root)
        self.port = port
        self.workdir = Path(workdir)
        self.authorized_keys = Path(authorized_keys)
        self.proc: subprocess.Popen | None = None

    @property
    def config_path(self) -> Path:
        return self.workdir / "sshd_config"

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)
        keygen(self.workdir / "ssh_host_ed25519_key", f"simhost-{self.root.parent.name}")
        self.config_path.write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {self.workdir / 'ssh_host_ed25519_key'}\n"
            f"PidFile {self.workdir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.authorized_keys}\n"
            "PermitRootLogin yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "StrictModes no\n"
            "UsePAM no\n"
            "PrintMotd no\n"
            "PrintLastLog no\n"
            "UseDNS no\n"
            "MaxStartups 100\n"
            "MaxSessions 100\n"
            f"SetEnv PATH={PATH_IN_HOST}\n"
            f"ChrootDirectory {self.root}\n"
            "Subsystem sftp internal-sftp\n"
        )

    def start(self, timeout: float = 10.0) -> None:
        os.makedirs("/run/sshd", exist_ok=True)
        self.write_config()
        log = open(self.workdir / "sshd.log", "ab")
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        try:
            wait_for_banner(self.port, timeout)
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                f"sshd for {self.root} failed to start; log:\n"
                + (self.workdir / "sshd.log").read_text()[-2000:]
            ) from None

    def stop(self) -> None:
        """Kill the listener, every per-connection sshd it forked and every process
        running inside the chroot (sessions, their background jobs): connections drop."""
        victims = set()
        if self.proc is not None:
            victims |= descendants(self.proc.pid) | {self.proc.pid}
        victims |= processes_rooted_at(self.root)
        victims.discard(os.getpid())
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _ppid_map() -> dict[int, int]:
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                data = f.read()
        except OSError:
            continue
        # comm may contain spaces/parens: ppid is the 2nd field after the last ')'
        out[int(entry)] = int(data.rsplit(")", 1)[1].split()[1])
    return out


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for child, parent in _ppid_map().items():
        children.setdefault(parent, []).append(child)
    found, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found


def processes_rooted_at(root: Path) -> set[int]:
    """PIDs whose root directory is `root` (chrooted sessions, orphaned background jobs)."""
    root = str(Path(root).resolve())
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/root") == root:
                    found.add(int(entry))
            except OSError:
                pass
    return found
