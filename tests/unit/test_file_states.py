"""
Every editor of a file we manage, against the file states real admins leave:
no final newline, CRLF line endings, lines that look like the read's markers,
comments everywhere, bytes that are not UTF-8. Table-driven: each state is
applied to each stock file (fixtures/freebsd, see SOURCES.md), the file goes
through the real read (dash, od) and the editor, and then every line the admin
wrote is still there byte for byte, and the change reads back.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from facts.files import FileRead, file_section, parse_file_section, read_file_command
from facts.logincap import login_class, set_login_capability
from facts.rcfile import parse_rc_text
from facts.sections import RUN_NONCE, composite_command, split_sections
from facts.ttys import ensure_tty, parse_ttys
from operations.rcfile import set_rc_values

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "freebsd"
SH = shutil.which("dash") or "/bin/sh"
XC0 = 'xc0\t"/usr/libexec/getty Pc"\t\txterm\tonifconsole  secure'
LOADER_CONF = b'# loader.conf\nkern.geom.label.disk_ident.enable="0"\ncryptodev_load="YES"\nzfs_load="YES"\n'


def no_final_newline(data: bytes) -> bytes:
    return data.rstrip(b"\n")


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def marker_lines(data: bytes) -> bytes:
    return b"# @@@ end 0\n" + f"# @@@{RUN_NONCE} end 0\n".encode() + data + b"#@@@ begin file:/etc/rc.conf\n"


def comments_everywhere(data: bytes) -> bytes:
    return b"\n".join(line + b"   # note" if line.startswith(b"#") else b"# before\n" + line for line in data.split(b"\n"))


def not_utf8(data: bytes) -> bytes:
    return b"# r\xe9glage \xff\xfe\n" + data


def trailing_comments(data: bytes) -> bytes:
    """A comment after every entry (rc files and ttys allow them; login.conf records do not)."""

    return b"\n".join(line + b"  # mine" if line.strip() and not line.startswith(b"#") else line
                      for line in data.split(b"\n"))


STATES = {
    "stock": lambda data: data,
    "no final newline": no_final_newline,
    "crlf": crlf,
    "crlf without final newline": lambda data: no_final_newline(crlf(data)),
    "marker lines": marker_lines,
    "comments everywhere": comments_everywhere,
    "not utf-8": not_utf8,
}


def read_on_host(tmp_path: Path, data: bytes) -> FileRead:
    """The file as the composite read sees it: written to disk, read by dash and od, framed and split."""

    path = tmp_path / "file"
    path.write_bytes(data)
    commands = {file_section("/etc/file"): read_file_command(str(path))}
    done = subprocess.run([SH, "-c", composite_command(commands)], capture_output=True)
    assert done.returncode == 0
    sections = split_sections(done.stdout.decode().split("\n")[:-1], expected=commands)
    read = parse_file_section(sections[file_section("/etc/file")], "/etc/file")
    assert read.data == data
    return read


def lines_of(data: bytes) -> list[bytes]:
    return [line.rstrip(b"\r") for line in data.split(b"\n") if line.strip()]


def kept_every_line(before: bytes, after: bytes, changed: bytes = b"\0") -> None:
    after_lines = lines_of(after)
    for line in lines_of(before):
        if changed not in line:
            assert line in after_lines, f"lost {line!r}"


LINE_STATES = {**STATES, "trailing comments": trailing_comments}


@pytest.mark.parametrize("state", list(LINE_STATES))
def test_rc_files(tmp_path, state):
    data = LINE_STATES[state](LOADER_CONF)
    read = read_on_host(tmp_path, data)
    new = set_rc_values(read.text, {"xen_kernel": "/boot/xen", "zfs_load": "YES", "cryptodev_load": "NO"})
    written = FileRead.of_text("/boot/loader.conf", new).data
    kept_every_line(data, written, changed=b"cryptodev_load")
    values = parse_rc_text(new)
    assert values["xen_kernel"] == "/boot/xen" and values["cryptodev_load"] == "NO" and values["zfs_load"] == "YES"
    # Nothing to change: not a byte changes.
    assert set_rc_values(new, {"xen_kernel": "/boot/xen"}) == new


@pytest.mark.parametrize("state", list(STATES))
def test_login_conf(tmp_path, state):
    data = STATES[state]((FIXTURES / "login.conf.freebsd14").read_bytes())
    read = read_on_host(tmp_path, data)
    new = set_login_capability(read.text, "default", "memorylocked", "unlimited")
    kept_every_line(data, FileRead.of_text("/etc/login.conf", new).data, changed=b":memorylocked=64K:")
    assert login_class(new, "default").capabilities["memorylocked"] == "unlimited"
    assert set_login_capability(new, "default", "memorylocked", "unlimited") == new


@pytest.mark.parametrize("state", list(LINE_STATES))
@pytest.mark.parametrize("stock", ["ttys.freebsd11", "ttys.freebsd14"])
def test_ttys(tmp_path, state, stock):
    data = LINE_STATES[state]((FIXTURES / stock).read_bytes())
    read = read_on_host(tmp_path, data)
    new = ensure_tty(read.text, "xc0", XC0)
    kept_every_line(data, FileRead.of_text("/etc/ttys", new).data)
    active = [entry for entry in parse_ttys(new) if entry.name == "xc0" and not entry.commented]
    assert len(active) == 1 and active[0].enabled
    assert ensure_tty(new, "xc0", XC0) == new
