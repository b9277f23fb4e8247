"""
Writing whole files on the host so that nothing is ever clobbered: not the
admin's original, not a change made since we read the file, not a secret.

Every write states what it was based on (``basis``: the sha256 of the bytes we
read, or ``"absent"``). On the host, with FreeBSD base tools only:

1. a staging directory ``<dir>/.pyinfra-stage.<run nonce>/`` is created with
   ``mkdir -m 700`` (left-overs of cut runs are removed first), in the file's own
   directory so the final rename(2) is atomic;
2. the content is uploaded into it over SFTP (never on a command line, never
   readable by another user, even for a moment);
3. the install refuses, naming the file, if the file no longer matches the
   basis (changed, gone, or appeared since the read) or is not a regular file;
   otherwise it keeps the admin's original once as ``<file>.orig`` (never
   overwritten later) and the previous version as ``<file>.bak`` (both copied
   inside the staging directory, then put in place with ``ln`` and ``mv``, so
   a cut run never leaves half a backup), then chmods the staged copy and
   renames it over the file.

Files holding a secret are written with ``backup=False``: no copies at all.

    yield from write_if_changed(dom0, "/boot/loader.conf", new_text, "boots Xen")
"""

from __future__ import annotations

import posixpath
import shlex
from io import BytesIO

from pyinfra import logger
from pyinfra.api import FileUploadCommand, FunctionCommand, StringCommand

from facts.files import ABSENT, FileRead, encode_text
from facts.sections import RUN_NONCE

from facts.rcfile import parse_rc_text

from .state import record
from .steps import diff, noop, plan

STAGE_PREFIX = ".pyinfra-stage."


def stage_dir(path: str, nonce: str = RUN_NONCE) -> str:
    return posixpath.join(posixpath.dirname(path), f"{STAGE_PREFIX}{nonce}")


def staging_path(path: str, nonce: str = RUN_NONCE) -> str:
    return posixpath.join(stage_dir(path, nonce), posixpath.basename(path))


def staged_basis_path(path: str, nonce: str = RUN_NONCE) -> str:
    """Where a secret file's basis waits for its install command (see install_command)."""

    return staging_path(path, nonce) + ".basis"


def legacy_staging_path(path: str) -> str:
    """Where earlier versions staged uploads (readable by others: removed on sight)."""

    directory, name = posixpath.split(path)
    return posixpath.join(directory, f".{name}.pyinfra-new")


def backup_path(path: str) -> str:
    return f"{path}.bak"


def original_path(path: str) -> str:
    return f"{path}.orig"


def prepare_stage_command(path: str, nonce: str = RUN_NONCE) -> str:
    """
    Remove staging left-overs of cut runs next to ``path`` (they may hold a
    secret), then create this run's staging directory, mode 0700 from the start.
    """

    directory = posixpath.dirname(path)
    pattern = shlex.quote(posixpath.join(directory, STAGE_PREFIX)) + "*"
    return (
        f"for old in {pattern}; do if [ -d \"$old\" ] && [ ! -L \"$old\" ]; then rm -rf \"$old\"; fi; done; "
        f"rm -f {shlex.quote(legacy_staging_path(path))}; "
        f"mkdir -m 700 {shlex.quote(stage_dir(path, nonce))}"
    )


def install_command(path: str, mode: str, basis: str, backup: bool = True, nonce: str = RUN_NONCE,
                    basis_staged: bool = False) -> str:
    """
    Move the staged copy of ``path`` into place, only if ``path`` still is what
    the write was based on (``basis``: a sha256, or ``"absent"``); otherwise
    exit non-zero with a message naming the file. Keeps ``<path>.orig`` (once)
    and ``<path>.bak`` unless ``backup`` is false (a file holding a secret).
    With ``basis_staged`` the sha256 is not on the command line (where ps shows
    it, and a short password in the file could be guessed from it offline): it
    was uploaded next to the staged copy (``staged_basis_path``).
    """

    if basis != ABSENT and (len(basis) != 64 or any(char not in "0123456789abcdef" for char in basis)):
        raise ValueError(f"the basis of a write of {path} must be a sha256 or {ABSENT!r}, not {basis!r}")
    if not mode.isdigit() or len(mode) not in (3, 4) or any(char > "7" for char in mode):
        raise ValueError(f"not an octal file mode: {mode!r}")
    target, staged, stage = (shlex.quote(p) for p in (path, staging_path(path, nonce), stage_dir(path, nonce)))
    said = shlex.quote(path)
    lines = [
        f"refuse() {{ rm -rf {stage}; echo \"refusing to write \"{said}\": $1\" >&2; exit 1; }}",
        f"[ -f {staged} ] || refuse 'its staged copy is missing'",
        f"if [ -L {target} ]; then refuse 'it is a symbolic link'; fi",
    ]
    if basis == ABSENT:
        lines.append(f"if [ -e {target} ]; then refuse 'it did not exist when it was read, and now it does (run the deploy again)'; fi")
    else:
        expected = f"\"$(cat {shlex.quote(staged_basis_path(path, nonce))})\"" if basis_staged else basis
        lines += [
            f"[ -f {target} ] || refuse 'it is gone, or no longer a regular file, since it was read (run the deploy again)'",
            f"[ \"$(sha256 -q {target})\" = {expected} ] || refuse 'it changed since it was read (run the deploy again: it reads the file afresh)'",
        ]
        if basis_staged:
            lines.append(f"rm -f {shlex.quote(staged_basis_path(path, nonce))}")
        if backup:
            for copy in (original_path(path), backup_path(path)):
                quoted = shlex.quote(copy)
                lines.append(
                    f"if [ -L {quoted} ] || {{ [ -e {quoted} ] && [ ! -f {quoted} ]; }}; then "
                    f"refuse {shlex.quote(f'{copy} is not a regular file')}; fi",
                )
            orig, bak = shlex.quote(original_path(path)), shlex.quote(backup_path(path))
            # Copies are made in the staging directory and then linked or renamed
            # into place, so a run cut mid-copy never leaves half a backup; link(2)
            # never replaces an existing .orig: the admin's original is kept once.
            copy_orig, copy_bak = (shlex.quote(posixpath.join(stage_dir(path, nonce), name)) for name in (".orig", ".bak"))
            lines += [
                f"if [ ! -e {orig} ]; then cp -p {target} {copy_orig} || refuse 'cannot keep its original'; "
                f"ln {copy_orig} {orig} 2>/dev/null || [ -e {orig} ] || refuse 'cannot keep its original'; "
                f"rm -f {copy_orig}; fi",
                f"cp -p {target} {copy_bak} && mv -f {copy_bak} {bak} || refuse 'cannot keep its previous version'",
            ]
    lines += [
        f"chmod {mode} {staged} || refuse 'cannot set its mode'",
        f"mv -f {staged} {target} || refuse 'cannot move it into place'",
        f"rmdir {stage}",
    ]
    return "\n".join(lines)


def atomic_write_commands(path: str, content: str, basis: str, mode: str = "644", backup: bool = True,
                          secret: bool = False):
    """
    Commands that replace ``path`` with ``content``, refused on the host unless
    ``path`` still matches ``basis`` (the sha256 read, or ``"absent"``). The
    content travels over SFTP into a 0700 directory, never on a command line;
    for a file holding a ``secret`` (no backups then) so does its basis.
    """

    staged_basis = secret and basis != ABSENT
    yield StringCommand(prepare_stage_command(path))
    yield FileUploadCommand(BytesIO(encode_text(content)), staging_path(path))
    if staged_basis:
        yield FileUploadCommand(BytesIO(basis.encode()), staged_basis_path(path))
    yield StringCommand(install_command(path, mode, basis, backup and not secret, basis_staged=staged_basis))


def refusal(message: str) -> FunctionCommand:
    """A command that fails this host with ``message``: the operation's commands stop there."""

    def refuse(state, host) -> bool:
        host.log_styled(message, fg="red", log_func=logger.error)
        return False

    return FunctionCommand(refuse, (), {})


# Files of ``key=value`` lines (sh-style rc.conf(5), loader.conf(5), sysctl.conf(5),
# xl.conf(5)): their changes are told key by key.
ASSIGNMENT_FILES = ("/boot/loader.conf", "/etc/rc.conf", "/etc/sysctl.conf", "/usr/local/etc/xen/xl.conf")


def words_change(old: str, new: str) -> str:
    """
    ``dom0_mem 8192M -> 4096M``: how a value of several words (a command line)
    changed, word by word, ``name=value`` words by name.
    """

    def by_name(value: str) -> dict[str, str]:
        return {word.split("=", 1)[0]: word for word in value.split()}

    was, now = by_name(old), by_name(new)
    parts = []
    for name, word in now.items():
        if name not in was:
            parts.append(f"{word} added")
        elif was[name] != word:
            before, after = (w.split("=", 1)[1] if "=" in w else w for w in (was[name], word))
            parts.append(f"{name} {before} -> {after}")
    parts += [f"{word} removed" for name, word in was.items() if name not in now]
    return ", ".join(parts) if parts else f'"{old}" -> "{new}"'


def describe_write(path: str, old: str | None, new: str) -> str:
    """
    What a write changes, in plain words: the keys of an assignment file
    (``/boot/loader.conf: xen_cmdline dom0_mem 8192M -> 4096M``), else how many
    lines are added and removed.
    """

    name = posixpath.basename(path)
    if old is None and path not in ASSIGNMENT_FILES:
        return f"{name}: created ({len(new.splitlines())} lines)"
    if path in ASSIGNMENT_FILES:
        # Told key by key whether or not the file exists yet: a package may
        # install it between a dry run and the real one (xl.conf).
        was, now = parse_rc_text(old or ""), parse_rc_text(new)
        changes = []
        for key, value in now.items():
            if key not in was:
                changes.append(f'{key}="{value}" added')
            elif was[key] != value:
                if len(was[key].split()) > 1 or len(value.split()) > 1:
                    changes.append(f"{key} {words_change(was[key], value)}")
                else:
                    changes.append(f'{key} "{was[key]}" -> "{value}"')
        changes += [f"{key} removed" for key in was if key not in now]
        if changes:
            return f"{name}: " + "; ".join(changes)
    old_lines, new_lines = (old or "").splitlines(), new.splitlines()
    added = sum(1 for line in new_lines if line not in old_lines)
    removed = sum(1 for line in old_lines if line not in new_lines)
    return f"{name}: {added} line{'s' if added != 1 else ''} added, {removed} removed"


def write_if_changed(
    current, path: str, new: str, reason: str, mode: str = "644", backup: bool = True, effect: str = "",
):
    """
    Yield a write of ``new`` to ``path`` unless the read (``current.read(path)``)
    already has exactly that content, based on what was read; record the new
    content in the read. Replacing a path that is not a regular file (a
    directory, a symbolic link, a device) is refused: the operation fails the
    host with a message naming the path. Returns whether it wrote.
    """

    read: FileRead = current.read(path)
    if read.text == new or (not read.exists and new == ""):
        # Also through a symbolic link: nothing to write, nothing to refuse.
        noop(f"{path} {reason}")
        return False
    problem = read.write_refusal()
    if problem:
        yield refusal(problem)
        return False
    old = read.text if read.exists else None
    plan(describe_write(path, old, new) + (f" ({effect})" if effect else ""))
    diff(path, old, new)
    yield from atomic_write_commands(path, new, basis=read.basis, mode=mode, backup=backup)
    written = FileRead.of_text(path, new)
    yield record(lambda: current.files.__setitem__(path, written), read=current)
    return True
