"""
Everything the guests deploy needs to know about a Dom0, in one remote command,
however many guests it has: domains (``xl list`` and their live configuration
from ``xl list -l``), free memory, ZFS volumes, the guests' config files, disk
files and install media, interfaces, and the autostart settings.

    from facts.guests import GuestsState
    state = host.get_fact(GuestsState, names=("freebsd",), paths=("/vm/a.img",), media=("/iso/a.iso",),
                          zvols=("zroot/xen/freebsd-disk0",))
    state.domain("freebsd")
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from .dom0 import AUTOSTART_SCRIPT, RC_CONF, SYSCTL_CONF, FileReads
from .files import FileRead, file_section, parse_file_section, read_file_command
from .rcfile import parse_rc_text
from .sections import ReadError, Section, composite_command, split_sections
from .xl import (
    XL_INFO_COMMAND,
    XL_LIST_COMMAND,
    XlDomain,
    parse_xl_info,
    parse_xl_list,
    parse_xl_list_long_or_fail,
    xl_list_long_command,
)
from .zfs import ZFS_VOLUMES_COMMAND, ZfsVolume, parse_zfs_volumes

from spec.xlcfg import CONFIG_DIR, EARLIER_MARKERS, MANAGED_MARKER, config_path  # noqa: F401 (config_path is re-exported)

XEN_CONFIG_DIR = CONFIG_DIR
MANAGED_MARKERS = (MANAGED_MARKER, *EARLIER_MARKERS)
INIT_SHUTDOWN_TIMEOUT = "kern.init_shutdown_timeout"
# The exit status of a checksum read for "no such file": a sha256 that failed on
# a file that exists must never be taken for absence.
NO_SUCH_FILE = 44


def managed_configs_command() -> str:
    """
    The config files whose first line is the marker ``render_xl_cfg`` writes:
    the guests this project created here. The comparison runs on the host, so
    no line of a config (which may hold a password) leaves it.
    """

    markers = "|".join(shlex.quote(marker) for marker in MANAGED_MARKERS)
    return (
        f"for f in {XEN_CONFIG_DIR}/*.cfg; do [ -f \"$f\" ] || continue; first=; "
        f"IFS= read -r first < \"$f\"; case $first in {markers}) printf '%s\\n' \"${{f##*/}}\" ;; esac; done"
    )


WATCHED_FILES = (RC_CONF, SYSCTL_CONF, AUTOSTART_SCRIPT)


def guests_commands(names: tuple[str, ...], paths: tuple[str, ...], media: tuple[str, ...]) -> dict[str, str]:
    commands = {
        "xl_list": XL_LIST_COMMAND,
        # Passwords redacted on the host (see facts/xl.py).
        "xl_long": xl_list_long_command(),
        "xl_info": XL_INFO_COMMAND,
        "zfs": ZFS_VOLUMES_COMMAND,
        "interfaces": "ifconfig -l",
        # Which guest configs exist at all (to tidy up after guests that moved away).
        "configs": f"ls {XEN_CONFIG_DIR}",
        "managed": managed_configs_command(),
        INIT_SHUTDOWN_TIMEOUT: f"sysctl -n {INIT_SHUTDOWN_TIMEOUT}",
    }
    for path in WATCHED_FILES:
        commands[file_section(path)] = read_file_command(path)
    for name in names:
        path = config_path(name)
        # A checksum, not the content: a config may hold a VNC password.
        quoted = shlex.quote(path)
        commands[f"cfgsum:{path}"] = f"if [ -e {quoted} ]; then sha256 -q {quoted}; else (exit {NO_SUCH_FILE}); fi"
        commands[f"mode:{path}"] = f"stat -f '%Lp' {quoted}"
    for path in paths:
        # Size in bytes and type, so a file disk can be grown and a device checked.
        commands[f"stat:{path}"] = unless_absent(path, f"stat -L -f '%HT %z' {shlex.quote(path)}")
    for path in media:
        commands[f"sha256:{path}"] = unless_absent(path, f"sha256 -q {shlex.quote(path)}")
    return commands


def unless_absent(path: str, command: str) -> str:
    """
    ``command``, or the exit status NO_SUCH_FILE when nothing is at ``path``:
    a tool failing on something that is there (a dangling link, a directory,
    no permission) must not be taken for absence.
    """

    quoted = shlex.quote(path)
    return f"if [ -e {quoted} ] || [ -L {quoted} ]; then {command}; else (exit {NO_SUCH_FILE}); fi"


@dataclass(frozen=True)
class PathInfo:
    kind: str  # "Regular File", "Character Device", "Directory", ...
    size: int


@dataclass
class GuestsHost:
    domains: list[XlDomain] | None
    live_configs: dict[str, dict]
    xen_info: dict[str, object] | None
    volumes: dict[str, ZfsVolume]
    interfaces: tuple[str, ...]
    rc_conf: dict[str, str]
    files: dict[str, FileRead] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)
    paths: dict[str, PathInfo | None] = field(default_factory=dict)
    media_sha256: dict[str, str | None] = field(default_factory=dict)
    config_sha256: dict[str, str | None] = field(default_factory=dict)
    config_names: tuple[str, ...] = ()
    # configs here that this project wrote (their first line is spec.xlcfg.MANAGED_MARKER)
    managed_configs: frozenset[str] = frozenset()
    xl_error: str = ""
    # why `zfs list` failed ("" when it worked): then `volumes` says nothing about absence
    zfs_error: str = ""
    init_shutdown_timeout: int | None = None  # kern.init_shutdown_timeout, when readable

    def __post_init__(self):
        self.files = FileReads(self.files)

    @property
    def xl_works(self) -> bool:
        return self.domains is not None

    @property
    def free_memory_mib(self) -> int:
        return int((self.xen_info or {}).get("free_memory", 0) or 0)

    def domain(self, name: str) -> XlDomain | None:
        for domain in self.domains or ():
            if domain.name == name:
                return domain
        return None

    def file(self, path: str) -> str | None:
        """The exact text of a file we read (``None`` when absent, or not a regular file)."""

        return self.files.text(path)

    def read(self, path: str) -> FileRead:
        """What the host said is at ``path``: kind, bytes, and the basis a write of it states."""

        return self.files[path]


def checksum(section: Section, path: str) -> str | None:
    """A file's sha256 (``None``: the host said there is no such file); anything else stops the host."""

    if section.rc == NO_SUCH_FILE:
        return None
    digest = section.text.strip().lower()
    if not section.ok or len(digest) != 64 or any(char not in "0123456789abcdef" for char in digest):
        raise ReadError(f"cannot read the checksum of {path}: {' '.join(section.text.split())[:200] or section.rc}")
    return digest


config_checksum = checksum


def path_info(section: Section, path: str) -> PathInfo | None:
    """A disk or device path's type and size (``None``: the host said nothing is there)."""

    if section.rc == NO_SUCH_FILE:
        return None
    file_kind, _, size = section.text.strip().rpartition(" ")
    if not section.ok or not file_kind or not size.isdigit():
        raise ReadError(f"cannot stat {path}: {' '.join(section.text.split())[:200] or section.rc}")
    return PathInfo(file_kind, int(size))


def parse_guests_sections(sections: dict[str, Section]) -> GuestsHost:
    def text(name: str) -> str:
        section = sections.get(name)
        return section.text if section and section.ok else ""

    xl_ok = "xl_list" in sections and sections["xl_list"].ok
    long_section = sections.get("xl_long")
    if xl_ok and long_section is not None and not long_section.ok:
        # Without the live configs, drift cannot be told from none: stop, do not guess.
        raise ReadError(f"xl list works but xl list -l failed (exit status {long_section.rc})")
    files: dict[str, FileRead] = {}
    modes: dict[str, str] = {}
    paths: dict[str, PathInfo | None] = {}
    media: dict[str, str | None] = {}
    config_sums: dict[str, str | None] = {}
    for key, section in sections.items():
        kind, _, path = key.partition(":")
        if kind == "file":
            files[path] = parse_file_section(section, path)
        elif kind == "mode" and section.ok:
            modes[path] = section.text.strip()
        elif kind == "stat":
            paths[path] = path_info(section, path)
        elif kind == "sha256":
            media[path] = checksum(section, path)
        elif kind == "cfgsum":
            config_sums[path] = config_checksum(section, path)
    return GuestsHost(
        domains=parse_xl_list(text("xl_list")) if xl_ok else None,
        live_configs=parse_xl_list_long_or_fail(text("xl_long")) if xl_ok else {},
        xen_info=parse_xl_info(text("xl_info")) if xl_ok else None,
        volumes=parse_zfs_volumes(text("zfs")),
        zfs_error="" if "zfs" not in sections or sections["zfs"].ok else (
            " ".join(sections["zfs"].text.split())[:200] or f"exit status {sections['zfs'].rc}"),
        interfaces=tuple(text("interfaces").split()),
        rc_conf=parse_rc_text(files[RC_CONF].text or "" if RC_CONF in files else ""),
        files=files,
        modes=modes,
        paths=paths,
        media_sha256=media,
        config_sha256=config_sums,
        managed_configs=frozenset(
            name[: -len(".cfg")] for name in text("managed").split() if name.endswith(".cfg")
        ),
        config_names=tuple(
            name[: -len(".cfg")] for name in text("configs").split() if name.endswith(".cfg") and name != ".cfg"
        ),
        xl_error="" if xl_ok else sections.get("xl_list", Section("", 1)).text.strip(),
        init_shutdown_timeout=int(text(INIT_SHUTDOWN_TIMEOUT).strip()) if text(INIT_SHUTDOWN_TIMEOUT).strip().isdigit() else None,
    )


class GuestsState(FactBase):
    """
    The guest-relevant state of a Dom0, for the given guest names, disk/device
    paths and install-media paths, in one command.

    .. code:: python

        from facts.guests import GuestsState
        state = host.get_fact(GuestsState, names=("web",), paths=(), media=())
    """

    def command(self, names: tuple[str, ...] = (), paths: tuple[str, ...] = (), media: tuple[str, ...] = (),
                zvols: tuple[str, ...] = ()) -> str:
        # process() needs to know: a failed `zfs list` is fatal only when volumes matter here
        self._zvols = tuple(zvols)
        return composite_command(guests_commands(tuple(names), tuple(paths), tuple(media)))

    def process(self, output: list[str]) -> GuestsHost:
        sections = split_sections(output)
        try:
            state = parse_guests_sections(sections)
            if state.zfs_error and getattr(self, "_zvols", ()):
                raise ReadError(
                    f"zfs list failed ({state.zfs_error}), so whether the guests' volumes "
                    f"({', '.join(self._zvols[:3])}{', ...' if len(self._zvols) > 3 else ''}) exist cannot be told"
                )
            return state
        except ReadError:
            raise
        except (ValueError, KeyError, TypeError) as error:
            raise ReadError(f"cannot parse the host's answer: {type(error).__name__}: {error}") from None
