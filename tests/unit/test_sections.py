"""
facts/sections.py and facts/files.py: the composite read's framing, run here
under dash with the real od(1) on files in the states admins leave them, and
split back. Nothing a file holds may change what is read, and a read cut
anywhere must stop the host rather than look like an answer.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from facts.files import FileContent, FileRead, file_section, parse_file_section, read_file_command
from facts.sections import RUN_NONCE, ReadError, Section, composite_command, framed, split_sections

SH = shutil.which("dash") or "/bin/sh"

HOSTILE_CONTENTS = {
    "no final newline": b'hostname="xen1"\nzfs_load="YES"',
    "crlf": b'hostname="xen1"\r\nsshd_enable="YES"\r\n',
    "empty": b"",
    "only a newline": b"\n",
    "trailing blank lines": b"a=1\n\n\n",
    "binary junk": bytes(range(256)) + b"\xff\xfe\x00",
    "looks like our markers": (
        f"@@@{RUN_NONCE[:-1]}0 end 0\n@@@ end 0\n@@@ begin file:/etc/ttys\n@@@{RUN_NONCE} end\n".encode()
    ),
    "marker without newline": b"x\n@@@ end 0",
    "long line": b"k=" + b"v" * 100_000,
    "latin-1 comment": "# caf\u00e9\n".encode("latin-1"),
}


def run(script: str, cwd: Path | None = None) -> list[str]:
    done = subprocess.run([SH, "-c", script], capture_output=True, cwd=cwd)
    assert done.returncode == 0, done.stderr
    # What pyinfra hands a fact: stdout split into lines, "\n" removed, nothing else.
    return done.stdout.decode("utf-8").split("\n")[:-1]


def read_paths(paths: dict[str, Path]) -> dict[str, FileRead]:
    commands = {file_section(name): read_file_command(str(path)) for name, path in paths.items()}
    sections = split_sections(run(composite_command(commands)), expected=commands)
    return {name: parse_file_section(sections[file_section(name)], name) for name in paths}


@pytest.mark.parametrize("name", list(HOSTILE_CONTENTS))
def test_file_contents_are_read_byte_for_byte(tmp_path, name):
    data = HOSTILE_CONTENTS[name]
    path = tmp_path / "rc.conf"
    path.write_bytes(data)
    neighbour = tmp_path / "ttys"
    neighbour.write_bytes(b"ttyv0\n")
    reads = read_paths({"/etc/rc.conf": path, "/etc/ttys": neighbour})
    assert reads["/etc/rc.conf"] == FileRead("/etc/rc.conf", "file", data)
    assert reads["/etc/rc.conf"].sha256 == hashlib.sha256(data).hexdigest() == reads["/etc/rc.conf"].basis
    # The file after it is untouched by whatever the first one held.
    assert reads["/etc/ttys"].data == b"ttyv0\n"
    # Text round-trips to the same bytes, even when it is not UTF-8.
    assert FileRead.of_text("/etc/rc.conf", reads["/etc/rc.conf"].text).data == data


def test_absent_only_when_the_host_says_so(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    (tmp_path / "target").write_text("a=1\n")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "fifo")  # reading it would hang: it must not be opened
    reads = read_paths({name: tmp_path / name for name in ("missing", "dir", "link", "dangling", "fifo")})
    assert reads["missing"] == FileRead("missing", "absent") and reads["missing"].basis == "absent"
    assert reads["dir"].kind == "directory" and reads["dir"].basis is None
    assert reads["link"] == FileRead("link", "symlink", b"a=1\n")
    assert reads["dangling"] == FileRead("dangling", "symlink")
    assert reads["fifo"].kind == "other"
    for name in ("dir", "link", "dangling", "fifo"):
        assert "refusing to replace it" in reads[name].write_refusal()
    assert reads["missing"].write_refusal() is None


def test_a_command_without_a_final_newline_is_read_exactly():
    lines = run(composite_command({"a": "printf abc", "b": "printf 'x\\n\\n'", "c": "false", "d": "true"}))
    assert split_sections(lines) == {
        "a": Section("abc", 0), "b": Section("x\n\n", 0), "c": Section("", 1), "d": Section("", 0),
    }


def test_a_read_cut_anywhere_stops_the_host(tmp_path):
    path = tmp_path / "loader.conf"
    path.write_bytes(b'zfs_load="YES"\nkern.geom.label.disk_ident.enable="0"')
    commands = {"sysctl": "echo kern.osrelease=14.1-RELEASE", file_section("/boot/loader.conf"): read_file_command(str(path))}
    lines = run(composite_command(commands))
    assert split_sections(lines, expected=commands)
    for cut in range(len(lines)):
        with pytest.raises(ReadError):
            split_sections(lines[:cut], expected=commands)


@pytest.mark.parametrize(
    "lines, message",
    [
        (["stray"], "outside its sections"),
        ([f"@@@{RUN_NONCE} end 0"], "misplaced or malformed marker"),
        ([f"@@@{RUN_NONCE} begin a", f"@@@{RUN_NONCE} begin b"], "'a' began and did not end"),
        ([f"@@@{RUN_NONCE} begin a", f"@@@{RUN_NONCE} end zero"], "malformed marker"),
        (framed({"a": ("", 0)}) + framed({"a": ("", 0)}), "appears twice"),
    ],
)
def test_malformed_framing_is_an_error(lines, message):
    with pytest.raises(ReadError, match=message):
        split_sections(lines)


def test_another_runs_markers_are_just_text():
    other = "0" * len(RUN_NONCE)
    lines = framed({"a": (f"@@@{other} end 0\n@@@{other} begin b", 0)})
    assert split_sections(lines) == {"a": Section(f"@@@{other} end 0\n@@@{other} begin b", 0)}


def test_the_nonce_is_drawn_per_run():
    assert len(RUN_NONCE) == 16 and int(RUN_NONCE, 16) >= 0
    script = "import facts.sections as s; print(s.RUN_NONCE)"
    python = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python")
    root = Path(__file__).resolve().parents[2]
    first, second = (subprocess.run([python, "-c", script], capture_output=True, text=True, cwd=root).stdout
                     for _ in range(2))
    assert first.strip() and first != second


@pytest.mark.parametrize(
    "text, message",
    [
        ("file\nzz", "not od\\(1\\) hex output"),
        ("file\n6", "not od\\(1\\) hex output"),
        ("maybe\n", "the host answered 'maybe'"),
        ("directory\n61", "unexpected output"),
    ],
)
def test_file_answers_that_do_not_parse_are_errors(text, message):
    with pytest.raises(ReadError, match=message):
        parse_file_section(Section(text, 0), "/etc/rc.conf")


def test_a_failed_file_read_is_never_absence():
    with pytest.raises(ReadError, match="cannot read /etc/rc.conf: file od: /etc/rc.conf: Permission denied"):
        parse_file_section(Section("file\nod: /etc/rc.conf: Permission denied\n", 1), "/etc/rc.conf")
    with pytest.raises(ReadError, match="no section"):
        parse_file_section(None, "/etc/rc.conf")


def test_the_standalone_file_fact_is_the_composite_read(tmp_path):
    path = tmp_path / "ttys"
    path.write_bytes(b"console none unknown off secure")
    fact = FileContent()
    assert read_file_command(str(path)) in fact.command(str(path))
    assert fact.process(run(fact.command(str(path)))) == FileRead(str(path), "file", path.read_bytes())


def test_section_names_are_one_line():
    with pytest.raises(ValueError):
        composite_command({"a\nb": "true"})
