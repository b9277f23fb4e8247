"""
operations/files.py: the write's commands run here under dash, in a temporary
directory standing for the host's, with a sha256(1) that answers as FreeBSD's
``sha256 -q`` does. A write replaces only what it was based on, keeps the
admin's original once, and leaves no copy a secret could be read from.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from facts.files import ABSENT, FileRead
from operations import files
from operations.files import (
    install_command,
    legacy_staging_path,
    prepare_stage_command,
    stage_dir,
    staging_path,
    write_if_changed,
)
from tests.opsupport import fake_host

SH = shutil.which("dash") or "/bin/sh"
NONCE = "feedfacecafebeef"


@pytest.fixture
def tools(tmp_path) -> dict[str, str]:
    """PATH with FreeBSD's ``sha256 -q FILE`` (prints the digest only) in front of the system's tools."""

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sha256 = bin_dir / "sha256"
    sha256.write_text('#!/bin/sh\n[ "$1" = -q ] || exit 64\nset -- $(sha256sum "$2") || exit 1\necho "$1"\n')
    sha256.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


def sh(script: str, env) -> subprocess.CompletedProcess:
    return subprocess.run([SH, "-c", script], capture_output=True, text=True, env=env)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, content: bytes, basis: str, env, mode="644", backup=True) -> subprocess.CompletedProcess:
    """What the three commands of a write do on the host, the SFTP upload done by Python."""

    prepared = sh(prepare_stage_command(str(path), NONCE), env)
    assert prepared.returncode == 0, prepared.stderr
    Path(staging_path(str(path), NONCE)).write_bytes(content)
    return sh(install_command(str(path), mode, basis, backup, NONCE), env)


def test_a_write_based_on_what_is_there_replaces_it_and_keeps_the_original_once(tmp_path, tools):
    target = tmp_path / "rc.conf"
    original = b'hostname="xen1"'  # no final newline: kept as it was
    target.write_bytes(original)
    done = write(target, b"second\n", digest(original), tools)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == b"second\n"
    assert (tmp_path / "rc.conf.orig").read_bytes() == original
    assert (tmp_path / "rc.conf.bak").read_bytes() == original
    # Copied in the staging directory, then linked into place: no second name left behind.
    assert (tmp_path / "rc.conf.orig").stat().st_nlink == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert not Path(stage_dir(str(target), NONCE)).exists()

    done = write(target, b"third\n", digest(b"second\n"), tools, mode="600")
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == b"third\n"
    assert (tmp_path / "rc.conf.orig").read_bytes() == original  # never overwritten
    assert (tmp_path / "rc.conf.bak").read_bytes() == b"second\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_file_changed_since_the_read_is_refused(tmp_path, tools):
    target = tmp_path / "rc.conf"
    target.write_bytes(b'hostname="xen1"\n')
    read = digest(target.read_bytes())
    target.write_bytes(b'hostname="xen1"\nxen_bridge_ip="inet 192.0.2.1/24"\n')  # someone else's write
    done = write(target, b"ours\n", read, tools)
    assert done.returncode != 0
    assert f"refusing to write {target}: it changed since it was read" in done.stderr
    assert target.read_bytes() == b'hostname="xen1"\nxen_bridge_ip="inet 192.0.2.1/24"\n'
    assert not (tmp_path / "rc.conf.orig").exists() and not (tmp_path / "rc.conf.bak").exists()
    assert not Path(stage_dir(str(target), NONCE)).exists()  # nothing left behind


@pytest.mark.parametrize(
    "make, basis, message",
    [
        (lambda p: p.write_text("new\n"), ABSENT, "it did not exist when it was read, and now it does"),
        (lambda p: None, digest(b"x\n"), "it is gone, or no longer a regular file"),
        (lambda p: p.mkdir(), ABSENT, "it did not exist when it was read, and now it does"),
        (lambda p: p.mkdir(), digest(b"x\n"), "no longer a regular file"),
        (lambda p: p.symlink_to(p.parent / "elsewhere"), ABSENT, "it is a symbolic link"),
    ],
    ids=["appeared", "gone", "directory-appeared", "became-directory", "symlink"],
)
def test_a_path_that_is_not_what_was_read_is_refused(tmp_path, tools, make, basis, message):
    target = tmp_path / "xl.conf"
    make(target)
    before = sorted(os.listdir(tmp_path))
    done = write(target, b"ours\n", basis, tools)
    assert done.returncode != 0 and message in done.stderr and str(target) in done.stderr
    assert sorted(os.listdir(tmp_path)) == before


def test_an_absent_file_is_created_without_copies(tmp_path, tools):
    target = tmp_path / "xl.conf"
    done = write(target, b'autoballoon="off"\n', ABSENT, tools)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == b'autoballoon="off"\n'
    assert sorted(os.listdir(tmp_path)) == ["bin", "xl.conf"]


def test_an_admins_own_orig_is_never_overwritten(tmp_path, tools):
    target = tmp_path / "loader.conf"
    target.write_bytes(b"now\n")
    (tmp_path / "loader.conf.orig").write_bytes(b"the admin's\n")
    assert write(target, b"ours\n", digest(b"now\n"), tools).returncode == 0
    assert (tmp_path / "loader.conf.orig").read_bytes() == b"the admin's\n"


def test_a_backup_that_is_a_link_is_refused_not_followed(tmp_path, tools):
    target = tmp_path / "loader.conf"
    target.write_bytes(b"now\n")
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me\n")
    (tmp_path / "loader.conf.bak").symlink_to(victim)
    done = write(target, b"ours\n", digest(b"now\n"), tools)
    assert done.returncode != 0 and "loader.conf.bak is not a regular file" in done.stderr
    assert victim.read_bytes() == b"keep me\n" and target.read_bytes() == b"now\n"


def test_a_secret_file_gets_no_copies_and_is_never_readable_by_others(tmp_path, tools):
    target = tmp_path / "web.cfg"
    target.write_bytes(b'vncpasswd = "old"\n')
    prepared = sh(prepare_stage_command(str(target), NONCE), tools)
    assert prepared.returncode == 0
    stage = Path(stage_dir(str(target), NONCE))
    # The upload lands in a directory only root can enter, whatever its own mode.
    assert stat.S_IMODE(stage.stat().st_mode) == 0o700
    Path(staging_path(str(target), NONCE)).write_bytes(b'vncpasswd = "new"\n')
    done = sh(install_command(str(target), "600", digest(b'vncpasswd = "old"\n'), False, NONCE), tools)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["bin", "web.cfg"]
    assert "new" not in install_command(str(target), "600", ABSENT, False, NONCE)


def test_a_secret_files_basis_is_never_on_a_command_line(tmp_path, tools):
    # A config's sha256 on argv (ps shows it to every user of the Dom0) would let a short
    # VNC password be guessed offline: the basis travels like the content, over SFTP.
    from operations.files import atomic_write_commands, staged_basis_path

    target = tmp_path / "web.cfg"
    old = b'vncpasswd = "old"\n'
    target.write_bytes(old)
    basis = digest(old)
    commands = list(atomic_write_commands(str(target), 'vncpasswd = "new"\n', basis, mode="600", secret=True))
    words = [c.get_raw_value() for c in commands if hasattr(c, "get_raw_value")]
    assert words and not any(basis in w for w in words)
    uploads = [c for c in commands if not hasattr(c, "get_raw_value")]
    assert [u.dest for u in uploads] == [staging_path(str(target)), staged_basis_path(str(target))]
    # on the host: the staged basis is what the install compares with, and it is removed after
    for current, refused in ((old, False), (b'vncpasswd = "changed by someone"\n', True)):
        target.write_bytes(current)
        assert sh(prepare_stage_command(str(target), NONCE), tools).returncode == 0
        Path(staging_path(str(target), NONCE)).write_bytes(b'vncpasswd = "new"\n')
        Path(staged_basis_path(str(target), NONCE)).write_text(basis)
        command = install_command(str(target), "600", basis, False, NONCE, basis_staged=True)
        assert basis not in command
        done = sh(command, tools)
        assert (done.returncode != 0) == refused, done.stderr
        assert target.read_bytes() == (current if refused else b'vncpasswd = "new"\n')
        assert sorted(os.listdir(tmp_path)) == ["bin", "web.cfg"]   # no stage, no basis, no copies


def test_leftovers_of_cut_runs_are_removed(tmp_path, tools):
    target = tmp_path / "web.cfg"
    old_stage = tmp_path / ".pyinfra-stage.0123456789abcdef"
    old_stage.mkdir(mode=0o700)
    (old_stage / "web.cfg").write_text('vncpasswd = "s3cret"\n')
    Path(legacy_staging_path(str(target))).write_text('vncpasswd = "s3cret"\n')  # earlier versions' staging
    assert sh(prepare_stage_command(str(target), NONCE), tools).returncode == 0
    assert sorted(os.listdir(tmp_path)) == [".pyinfra-stage." + NONCE, "bin"]


def test_quoting_of_paths_and_refusal_of_bad_arguments(tmp_path, tools):
    target = tmp_path / "it's a file; reboot"
    target.write_bytes(b"x\n")
    assert write(target, b"y\n", digest(b"x\n"), tools).returncode == 0
    assert target.read_bytes() == b"y\n"
    with pytest.raises(ValueError):
        install_command(str(target), "644", "$(reboot)")
    with pytest.raises(ValueError):
        install_command(str(target), "6;4", ABSENT)


class Current:
    def __init__(self, **reads):
        self.files = {path: read for path, read in reads.items()}

    def read(self, path):
        return self.files[path]


def yielded(generator):
    commands = []
    while True:
        try:
            commands.append(next(generator))
        except StopIteration as stop:
            return commands, stop.value


def test_write_if_changed_states_its_basis_and_refuses_what_is_not_a_file():
    text = 'hostname="xen1"'
    current = Current(**{"/etc/rc.conf": FileRead.of_text("/etc/rc.conf", text),
                         "/etc/ttys": FileRead("/etc/ttys", "directory")})
    with fake_host():
        commands, wrote = yielded(write_if_changed(current, "/etc/rc.conf", text, "unchanged"))
        assert (commands, wrote) == ([], False)  # exactly the same bytes: nothing to do
        commands, wrote = yielded(write_if_changed(current, "/etc/rc.conf", text + "\nx=1\n", "changed"))
        assert wrote is True
        assert f'= {digest(text.encode())} ]' in commands[2].get_raw_value()
        commands, wrote = yielded(write_if_changed(current, "/etc/ttys", "xc0\n", "console"))
        assert wrote is False and [c.function.__name__ for c in commands] == ["refuse"]


def test_the_module_docstring_names_the_tools_it_relies_on():
    # FreeBSD base only: the install uses sha256, test, cp, mv, chmod, rmdir (and rm for its staging).
    script = install_command("/etc/rc.conf", "644", digest(b""))
    for tool in ("sha256 -q", "cp -p", "mv -f", "chmod 644", "rmdir"):
        assert tool in script
    assert files.STAGE_PREFIX in script


def test_a_symbolic_link_that_already_holds_the_content_is_left_alone():
    current = Current(**{"/boot/loader.conf": FileRead("/boot/loader.conf", "symlink", b'zfs_load="YES"\n')})
    with fake_host():
        assert yielded(write_if_changed(current, "/boot/loader.conf", 'zfs_load="YES"\n', "ok")) == ([], False)
        commands, wrote = yielded(write_if_changed(current, "/boot/loader.conf", "other\n", "ok"))
        assert wrote is False and [c.function.__name__ for c in commands] == ["refuse"]


# What a write changes, in plain words, for the plan.


def test_describe_write_tells_assignment_files_key_by_key_and_command_lines_word_by_word():
    from operations.files import describe_write

    old = 'autoboot_delay="3"\nxen_kernel="/boot/xen"\nxen_cmdline="dom0_mem=8192M dom0_max_vcpus=4 dom0=pvh"\n'
    new = old.replace("dom0_mem=8192M dom0_max_vcpus=4", "dom0_mem=4096M dom0_max_vcpus=4 iommu=on")
    assert describe_write("/boot/loader.conf", old, new) == "loader.conf: xen_cmdline dom0_mem 8192M -> 4096M, iommu=on added"
    assert describe_write("/etc/rc.conf", 'a="1"\nb="2"\n', 'a="3"\nc="4"\n') == 'rc.conf: a "1" -> "3"; c="4" added; b removed'
    assert describe_write("/etc/sysctl.conf", "vm.max_wired=1\n", "vm.max_user_wired=-1\n") == (
        'sysctl.conf: vm.max_user_wired="-1" added; vm.max_wired removed'
    )


def test_describe_write_counts_lines_of_other_files_and_says_created():
    from operations.files import describe_write

    assert describe_write("/etc/ttys", "console none\n", "console none\nxc0 x onifconsole secure\n") == (
        "ttys: 1 line added, 0 removed"
    )
    assert describe_write("/usr/local/etc/rc.d/xendomains", None, "#!/bin/sh\nexit 0\n") == "xendomains: created (2 lines)"
    # an assignment file is told key by key even when new: the dry run cannot know
    # that pkg install will put the stock xl.conf there first
    stock = "# xl.conf\n#autoballoon=\"auto\"\n"
    new = 'vif.default.bridge="bridge0"\nautoballoon="off"\n'
    assert describe_write("/usr/local/etc/xen/xl.conf", None, new) == describe_write("/usr/local/etc/xen/xl.conf", stock, stock + new)
    # a comment-only change of an assignment file is still told
    assert describe_write("/etc/rc.conf", 'a="1"\n', '# mine\na="1"\n') == "rc.conf: 1 line added, 0 removed"
