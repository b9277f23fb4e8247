"""
facts/guests.py: the guests read fails closed. A path is missing only when the
host said nothing is there; a tool that fails on something that is there (a
dangling link, a directory) stops the host instead of looking like absence,
which would have the deploy create a disk or fetch a medium over it.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from facts.guests import NO_SUCH_FILE, PathInfo, guests_commands, parse_guests_sections
from facts.sections import ReadError, Section, composite_command, framed, split_sections

SH = shutil.which("dash") or "/bin/sh"


def base_sections(**extra: tuple[str, int]) -> list[str]:
    return framed({
        "xl_list": ("Name ID Mem VCPUs State Time(s)\nDomain-0 0 4096 2 r----- 1.0", 0),
        "xl_long": ("[]", 0),
        "file:/etc/rc.conf": ("file\n" + b'hostname="x"'.hex(" "), 0),
        **extra,
    })


def test_absent_paths_and_media_are_none_only_when_the_host_says_so():
    state = parse_guests_sections(split_sections(base_sections(**{
        "stat:/vm/a.img": ("Regular File 1024", 0),
        "stat:/vm/b.img": ("", NO_SUCH_FILE),
        "sha256:/iso/a.iso": ("", NO_SUCH_FILE),
    })))
    assert state.paths == {"/vm/a.img": PathInfo("Regular File", 1024), "/vm/b.img": None}
    assert state.media_sha256 == {"/iso/a.iso": None}
    assert state.rc_conf == {"hostname": "x"}


@pytest.mark.parametrize(
    "name, section, message",
    [
        ("stat:/vm/a.img", ("stat: /vm/a.img: No such file or directory", 1), "cannot stat /vm/a.img"),
        ("stat:/vm/a.img", ("garbage", 0), "cannot stat /vm/a.img"),
        ("sha256:/iso/a.iso", ("sha256: /iso/a.iso: Is a directory", 1), "cannot read the checksum of /iso/a.iso"),
        ("cfgsum:/usr/local/etc/xen/a.cfg", ("", 1), "cannot read the checksum"),
        ("xl_long", ("", 1), "xl list -l failed"),
        ("file:/etc/rc.conf", ("file\nod: /etc/rc.conf: Input/output error", 1), "cannot read /etc/rc.conf"),
    ],
)
def test_a_failure_that_is_not_absence_stops_the_host(name, section, message):
    with pytest.raises(ReadError, match=message):
        parse_guests_sections(split_sections(base_sections(**{name: section})))


def test_the_shell_tells_a_dangling_link_from_nothing(tmp_path):
    (tmp_path / "dangling.img").symlink_to(tmp_path / "nowhere")
    (tmp_path / "dir.iso").mkdir()
    commands = guests_commands((), (str(tmp_path / "dangling.img"), str(tmp_path / "none.img")),
                               (str(tmp_path / "dir.iso"), str(tmp_path / "none.iso")))
    wanted = {name: command for name, command in commands.items() if name.startswith(("stat:", "sha256:"))}
    stub = tmp_path / "bin"
    stub.mkdir()
    # FreeBSD's stat -L and sha256 -q fail on these as coreutils do.
    (stub / "stat").write_text('#!/bin/sh\nexec /usr/bin/stat -L -c "%F %s" "$4"\n')
    (stub / "sha256").write_text('#!/bin/sh\nexec sha256sum "$2"\n')
    for tool in ("stat", "sha256"):
        (stub / tool).chmod(0o755)
    done = subprocess.run([SH, "-c", composite_command(wanted)], capture_output=True, text=True,
                          env={"PATH": f"{stub}:/usr/bin:/bin"})
    sections = split_sections(done.stdout.split("\n")[:-1], expected=wanted)
    assert sections[f"stat:{tmp_path}/none.img"].rc == NO_SUCH_FILE
    assert sections[f"sha256:{tmp_path}/none.iso"].rc == NO_SUCH_FILE
    assert sections[f"stat:{tmp_path}/dangling.img"].rc not in (0, NO_SUCH_FILE)
    assert sections[f"sha256:{tmp_path}/dir.iso"].rc not in (0, NO_SUCH_FILE)


# ZFS volumes: a failed or garbled `zfs list` is not "no volumes" --------------------

ZFS_LIST = "zroot/xen/web-disk0\t21474836480\tdev\t-\n"


def guests_fact(zvols: tuple[str, ...]):
    from facts.guests import GuestsState

    fact = GuestsState()
    fact.command(names=("web",), paths=(), media=(), zvols=zvols)
    return fact


def test_a_failed_zfs_list_stops_a_host_whose_guests_use_volumes():
    output = base_sections(zfs=("internal error: failed to initialize ZFS library", 1))
    with pytest.raises(ReadError, match=r"zfs list failed \(internal error.*zroot/xen/web-disk0"):
        guests_fact(("zroot/xen/web-disk0",)).process(output)
    # file-backed guests only: the volumes do not matter, the failure is kept for the report
    state = guests_fact(()).process(output)
    assert state.volumes == {} and state.zfs_error.startswith("internal error")


def test_a_zfs_list_line_that_cannot_be_parsed_stops_the_host():
    for garbled in ("zroot/xen/web-disk0 21474836480 dev\n", "zroot/xen/web-disk0\t20G\tdev\t-\n",
                    "zroot/xen/web-disk0\n"):
        with pytest.raises(ReadError, match="unexpected zfs list line"):
            guests_fact(("zroot/xen/web-disk0",)).process(base_sections(zfs=(garbled, 0)))
    state = guests_fact(("zroot/xen/web-disk0",)).process(base_sections(zfs=(ZFS_LIST, 0)))
    assert state.volumes["zroot/xen/web-disk0"].volsize == 21474836480 and state.zfs_error == ""
