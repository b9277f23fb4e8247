"""
One real-Xen test VM: QEMU (TCG, an AMD CPU with SVM) loading Xen as a
multiboot kernel, Debian's kernel as Dom0 with the initramfs of image.py, and
a shell on the serial line driven by a small sentinel protocol.

    with RealXenVM("xa", images()) as vm:
        result = vm.run("xl list")      # Result(rc, stdout, stderr)

The protocol: the Dom0's ``rx`` script runs one base64-encoded command and
prints ``TOKEN-BEGIN rc out_bytes err_bytes md5(out) md5(err)``, stdout and
stderr in base64, ``TOKEN-ERR`` / ``TOKEN-END`` lines. Xen's own console
lines can fall in between; lines that are not base64 are dropped and the
checksums tell when a line was torn, then ``rxshow`` prints it again.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shlex
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# An AMD CPU (TCG emulates SVM, not VMX) with nested paging: Xen then has HAP,
# which PVH guests and their live migration (log-dirty) need: Debian builds Xen
# without shadow paging (CONFIG_SHADOW_PAGING is not set), so without NPT
# there is no log-dirty mode for any guest and xl migrate fails.
CPU = "qemu64,+svm,+npt"
B64_LINE = re.compile(r"^[A-Za-z0-9+/=]*$")
# Xen's serial input ring (xen/drivers/char/console.c, SERIAL_RX_SIZE) is 128
# characters: input is sent in small chunks so none is dropped.
CHUNK = 32
CHUNK_PAUSE = 0.04


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str


class VMError(RuntimeError):
    pass


class RealXenVM:
    def __init__(self, name: str, image_dir: Path, *, memory_mib: int = 1536, dom0_mib: int = 512,
                 smp: int = 4, ip: str | None = None, hosts: dict[str, str] | None = None,
                 net: tuple[str, int] | None = None, log_dir: Path | None = None):
        self.name = name
        self.image_dir = image_dir
        self.memory_mib = memory_mib
        self.dom0_mib = dom0_mib
        self.smp = smp
        self.ip = ip
        self.hosts = hosts or {}
        self.net = net  # ("listen" | "connect", port)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"realxen-{name}-"))
        self.log_dir = log_dir or self.tmp
        self.log_path = self.log_dir / f"{name}.serial.log"
        self.sock_path = self.tmp / "serial.sock"
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.buffer = ""
        self.log = None
        self.boot_seconds: float | None = None

    # ---- lifecycle -------------------------------------------------------
    def command_line(self) -> list[str]:
        img = self.image_dir
        extra = [f"realxen_host={self.name}"]
        if self.ip:
            extra.append(f"realxen_ip={self.ip}")
        if self.hosts:
            # QEMU splits -initrd at commas: the list is joined with "+".
            extra.append("realxen_hosts=" + "+".join(f"{n}={a}" for n, a in self.hosts.items()))
        xen_args = (
            f"dom0_mem={self.dom0_mib}M,max:{self.dom0_mib}M dom0_max_vcpus=1 console=com1 com1=115200,8n1 "
            "loglvl=warning guest_loglvl=none noreboot sync_console=false"
        )
        linux_args = "console=hvc0 earlyprintk=xen quiet loglevel=1 " + " ".join(extra)
        cmd = [
            "nice", "-n", "10",
            "qemu-system-x86_64", "-accel", "tcg", "-cpu", CPU,
            "-m", str(self.memory_mib), "-smp", str(self.smp),
            "-nographic", "-monitor", "none", "-no-reboot",
            "-chardev", f"socket,id=s0,path={self.sock_path},server=on,wait=on",
            "-serial", "chardev:s0",
            "-kernel", str(img / "xen"),
            "-append", xen_args,
            "-initrd", f"{img / 'vmlinuz'} {linux_args},{img / 'dom0.cpio.gz'}",
        ]
        if self.net:
            mode, port = self.net
            cmd += ["-netdev", f"socket,id=n0,{mode}=127.0.0.1:{port}", "-device", f"e1000,netdev=n0,mac=52:54:00:12:34:{0x56 + (mode == 'connect'):02x}"]
        else:
            cmd += ["-nic", "none"]
        return cmd

    def start(self, timeout: float = 900) -> float:
        started = time.monotonic()
        self.log = self.log_path.open("a", encoding="utf-8", errors="replace")
        self.proc = subprocess.Popen(self.command_line(), stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self.sock_path.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise VMError(f"{self.name}: QEMU did not start (see {self.log_path})")
            time.sleep(0.1)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(self.sock_path))
        self.sock.settimeout(0.5)
        self.expect("REALXEN-DOM0-READY", timeout)
        time.sleep(1)
        self._send("stty -echo; export PS1=''\n")
        time.sleep(1)
        self.buffer = ""
        # A first command proves the protocol; its own time counts as boot.
        res = self.run("xl info >/dev/null && echo ok")
        if res.stdout.strip() != "ok":
            raise VMError(f"{self.name}: xl info fails in the Dom0: {res.stderr.strip()}")
        self.boot_seconds = time.monotonic() - started
        return self.boot_seconds

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.sock:
            self.sock.close()
        if self.log:
            self.log.close()

    def __enter__(self) -> "RealXenVM":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- serial I/O ------------------------------------------------------
    def _recv(self) -> None:
        assert self.sock
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        if not data:
            raise VMError(f"{self.name}: the serial line closed (QEMU exited? see {self.log_path})")
        text = data.decode("utf-8", errors="replace").replace("\r", "")
        self.buffer += text
        assert self.log
        self.log.write(text)
        self.log.flush()

    def expect(self, needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.buffer:
            if time.monotonic() > deadline:
                raise VMError(f"{self.name}: no {needle!r} within {timeout:.0f}s (see {self.log_path})")
            if self.proc and self.proc.poll() is not None:
                raise VMError(f"{self.name}: QEMU exited (see {self.log_path})")
            self._recv()
        before, _, after = self.buffer.partition(needle)
        self.buffer = after
        return before

    def _send(self, text: str) -> None:
        assert self.sock
        data = text.encode()
        for i in range(0, len(data), CHUNK):
            self.sock.sendall(data[i:i + CHUNK])
            time.sleep(CHUNK_PAUSE)

    # ---- commands --------------------------------------------------------
    def run(self, command: str, timeout: float = 300) -> Result:
        """Run ``command`` with sh in the Dom0; stdin is /dev/null."""

        encoded = base64.b64encode(command.encode()).decode()
        digest = hashlib.md5(command.encode()).hexdigest()
        for attempt in range(5):
            token = "RX" + secrets.token_hex(6)
            self.buffer = ""
            self._send(f"rx {token} {digest} {encoded}\n")
            if self._arrived(token, timeout):
                break
        else:
            raise VMError(f"{self.name}: the command kept arriving damaged: {command!r}")
        for attempt in range(4):
            try:
                return self._read_result(token, timeout)
            except _Torn:
                self.buffer = ""
                self._send(f"rxshow {token} {self._last_rc}\n")
        raise VMError(f"{self.name}: the result of {command!r} kept arriving torn")

    _last_rc = 0

    def _arrived(self, token: str, timeout: float) -> bool:
        """Whether the Dom0 received the command intact (it says DAMAGED otherwise)."""

        deadline = time.monotonic() + timeout
        while True:
            if f"{token}-BEGIN " in self.buffer:
                return True
            if f"{token}-DAMAGED" in self.buffer:
                return False
            if time.monotonic() > deadline:
                raise VMError(f"{self.name}: no answer within {timeout:.0f}s (see {self.log_path})")
            if self.proc and self.proc.poll() is not None:
                raise VMError(f"{self.name}: QEMU exited (see {self.log_path})")
            self._recv()

    def _read_result(self, token: str, timeout: float) -> Result:
        self.expect(f"{token}-BEGIN ", timeout)
        header = self.expect("\n", 30).split()
        rc, out_len, err_len, out_md5, err_md5 = int(header[0]), int(header[1]), int(header[2]), header[3], header[4]
        self._last_rc = rc
        out_text = self.expect(f"{token}-ERR\n", 120)
        err_text = self.expect(f"{token}-END\n", 120)
        out = _decode(out_text)
        err = _decode(err_text)
        if (len(out), len(err)) != (out_len, err_len) or hashlib.md5(out).hexdigest() != out_md5 \
                or hashlib.md5(err).hexdigest() != err_md5:
            raise _Torn()
        return Result(rc, out.decode("utf-8", errors="replace"), err.decode("utf-8", errors="replace"))

    def put(self, path: str, content: str | bytes, mode: str = "0644") -> None:
        """Write a file in the Dom0."""

        data = content.encode() if isinstance(content, str) else content
        encoded = base64.b64encode(data).decode()
        q = shlex.quote(path)
        self.run(f": > {q}.b64")
        for i in range(0, len(encoded), 1500):
            self.run(f"printf %s {encoded[i:i + 1500]} >> {q}.b64")
        res = self.run(f"base64 -d < {q}.b64 > {q} && rm {q}.b64 && chmod {mode} {q}")
        if res.rc:
            raise VMError(f"{self.name}: cannot write {path}: {res.stderr}")


class _Torn(Exception):
    pass


def _decode(text: str) -> bytes:
    lines = [line for line in text.split("\n") if line and B64_LINE.match(line)]
    try:
        return base64.b64decode("".join(lines))
    except ValueError:
        raise _Torn() from None
