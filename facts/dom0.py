"""
Everything the Dom0 deploy needs to know about a host, in one remote command.

    from facts.dom0 import Dom0State
    state = host.get_fact(Dom0State)
    state.freebsd_major        # 14
    state.under_xen            # False before the first reboot into Xen
    state.file("/boot/loader.conf")
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyinfra.api import FactBase

from .files import ABSENT, FileRead, file_section, parse_file_section, read_file_command
from .freebsd import parse_freebsd_version, parse_sysctl, sysctl_command
from .hardware import (
    ACPI_TABLES_COMMAND,
    DMESG_CPU_COMMAND,
    CpuVirtualisation,
    parse_acpidump_tables,
    parse_dmesg_virtualisation,
)
from .pkgs import PKG_NOT_BOOTSTRAPPED, PKG_READ_COMMAND, parse_pkg_query
from .sections import ReadError, Section, composite_command, split_sections
from .xl import XL_INFO_COMMAND, XL_LIST_COMMAND, XlDomain, parse_xl_info, parse_xl_list

__all__ = ["ABSENT", "FileRead", "HostReadError", "read_file_command"]

LOADER_CONF = "/boot/loader.conf"
RC_CONF = "/etc/rc.conf"
SYSCTL_CONF = "/etc/sysctl.conf"
LOGIN_CONF = "/etc/login.conf"
LOGIN_CONF_DB = "/etc/login.conf.db"
TTYS = "/etc/ttys"
XL_CONF = "/usr/local/etc/xen/xl.conf"
MENU_RC_LOCAL = "/boot/menu.rc.local"
XEN_KERNEL = "/boot/xen"
XEN_BOOT_MENU = "/boot/xen.4th"
XEN_LOG_DIR = "/var/log/xen"
DMESG_BOOT = "/var/run/dmesg.boot"

# Our rc.d script (deploys/guests.py installs it): read here so the Dom0 deploy can tell
# whether guests would come back by autostart after a reboot.
AUTOSTART_SCRIPT = "/usr/local/etc/rc.d/xendomains"

WATCHED_FILES = (LOADER_CONF, RC_CONF, SYSCTL_CONF, LOGIN_CONF, TTYS, XL_CONF, MENU_RC_LOCAL, AUTOSTART_SCRIPT)

SYSCTLS = (
    "kern.osrelease",  # what uname -r prints
    "hw.machine_arch",
    "hw.ncpu",
    "hw.physmem",
    "kern.vm_guest",
    "machdep.bootmethod",
    "vm.max_wired",
    "vm.max_user_wired",
)

# The sysctl section keeps its output in $sysctls (sections share one shell):
# the hardware probes after it must know whether Xen runs, and asking sysctl(8)
# again would cost a process. No other kern.vm_guest value starts with "xen".
SYSCTL_SECTION = f'sysctls=$({sysctl_command(SYSCTLS)}); printf "%s\\n" "$sysctls"'


def unless_under_xen(command: str) -> str:
    return f'case "$sysctls" in *kern.vm_guest=xen*) ;; *) {command} ;; esac'


def dom0_commands() -> dict[str, str]:
    commands = {
        "sysctl": SYSCTL_SECTION,
        "packages": PKG_READ_COMMAND,
        # Xen hides these from its Dom0, and pre-flight ignores them there: skip.
        "cpu": unless_under_xen(DMESG_CPU_COMMAND),
        "acpi": unless_under_xen(ACPI_TABLES_COMMAND),
        "interfaces": "ifconfig -l",
        "login_db_fresh": f"test {LOGIN_CONF_DB} -nt {LOGIN_CONF}",
        "xen_kernel": f"test -f {XEN_KERNEL}",
        "xen_boot_menu": f"test -f {XEN_BOOT_MENU}",
        "log_dir": f"stat -f '%HT %Lp' {XEN_LOG_DIR}",
        "xl_list": XL_LIST_COMMAND,
        "xl_info": XL_INFO_COMMAND,
    }
    for path in WATCHED_FILES:
        commands[file_section(path)] = read_file_command(path)
    return commands


# The host answered in a way we cannot safely act on: the host stops.
HostReadError = ReadError


class FileReads(dict):
    """
    ``{path: FileRead}``; a plain text (or ``None`` for absent) stored in it,
    as tests and older callers do, is taken as a regular file with that text.
    """

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.update(dict(*args, **kwargs))

    def __setitem__(self, path, value):
        if not isinstance(value, FileRead):
            value = FileRead.of_text(path, value)
        super().__setitem__(path, value)

    def update(self, *args, **kwargs):
        for path, value in dict(*args, **kwargs).items():
            self[path] = value

    def text(self, path: str) -> str | None:
        read = self.get(path)
        return read.text if read is not None else None


@dataclass
class Dom0Host:
    """The parsed state of a (would-be) Dom0."""

    release: str
    freebsd_version: tuple[int, int] | None
    sysctl: dict[str, str]
    packages: dict[str, str]
    cpu: CpuVirtualisation
    acpi_tables: frozenset[str]
    interfaces: tuple[str, ...]
    login_db_fresh: bool
    xen_kernel_present: bool
    xen_boot_menu_present: bool
    log_dir: tuple[str, str] | None
    files: dict[str, FileRead] = field(default_factory=dict)
    domains: list[XlDomain] | None = None
    xen_info: dict[str, object] | None = None
    xl_error: str = ""
    # pkg(8) itself is installed; a fresh FreeBSD has only the bootstrapper (facts/pkgs.py)
    pkg_bootstrapped: bool = True

    @property
    def freebsd_major(self) -> int | None:
        return self.freebsd_version[0] if self.freebsd_version else None

    @property
    def arch(self) -> str:
        return self.sysctl.get("hw.machine_arch", "")

    @property
    def ncpu(self) -> int:
        return int(self.sysctl.get("hw.ncpu", "0") or 0)

    @property
    def physmem_mib(self) -> int:
        return int(self.sysctl.get("hw.physmem", "0") or 0) // (1024 * 1024)

    @property
    def boot_method(self) -> str:
        return self.sysctl.get("machdep.bootmethod", "BIOS")

    @property
    def under_xen(self) -> bool:
        """Running as a Xen Dom0 right now (FreeBSD reports vm_guest=xen)."""

        return self.sysctl.get("kern.vm_guest") == "xen"

    @property
    def xl_works(self) -> bool:
        return self.domains is not None and self.xen_info is not None

    @property
    def wired_sysctl(self) -> str:
        """FreeBSD 13 renamed vm.max_wired to vm.max_user_wired."""

        major = self.freebsd_major or 0
        return "vm.max_user_wired" if major >= 13 else "vm.max_wired"

    def __post_init__(self):
        self.files = FileReads(self.files)

    def file(self, path: str) -> str | None:
        """The exact text of a file we read (``None`` when absent, or not a regular file)."""

        return self.files.text(path)

    def read(self, path: str) -> FileRead:
        """What the host said is at ``path``: kind, bytes, and the basis a write of it states."""

        return self.files[path]

    def domain(self, name: str) -> XlDomain | None:
        for domain in self.domains or ():
            if domain.name == name:
                return domain
        return None

    def unwritable_files(self) -> list[str]:
        """For pre-flight: the managed paths that are not regular files, which no write will replace."""

        return [problem for read in self.files.values() if (problem := read.write_refusal())]


def packages_text(section: Section | None) -> str:
    """The installed packages' lines: none when pkg is not bootstrapped (the host said so); a
    ``pkg query`` that failed otherwise stops the host (missing packages are installed)."""

    if section is None or section.rc == PKG_NOT_BOOTSTRAPPED:
        return ""
    if not section.ok:
        raise ReadError(f"pkg query failed: {' '.join(section.text.split())[:200] or section.rc}")
    return section.text


def parse_dom0_sections(sections: dict[str, Section]) -> Dom0Host:
    def text(name: str) -> str:
        section = sections.get(name)
        return section.text if section and section.ok else ""

    def ok(name: str) -> bool:
        section = sections.get(name)
        return bool(section and section.ok)

    sysctl = parse_sysctl(text("sysctl"))
    release = sysctl.get("kern.osrelease", "").strip()
    log_dir = None
    if ok("log_dir"):
        kind, _, mode = text("log_dir").strip().partition(" ")
        log_dir = (kind, mode)
    xl_ok = ok("xl_list") and ok("xl_info")
    xl_error = "" if xl_ok else (sections["xl_list"].text.strip() if "xl_list" in sections else "")
    return Dom0Host(
        release=release,
        freebsd_version=parse_freebsd_version(release) if release else None,
        sysctl=sysctl,
        packages={
            name: version
            for name, version in parse_pkg_query(packages_text(sections.get("packages"))).items()
            if name.startswith("xen-")
        },
        pkg_bootstrapped=not (sections.get("packages") and sections["packages"].rc == PKG_NOT_BOOTSTRAPPED),
        cpu=parse_dmesg_virtualisation(text("cpu")),
        acpi_tables=parse_acpidump_tables(text("acpi")),
        interfaces=tuple(text("interfaces").split()),
        login_db_fresh=ok("login_db_fresh"),
        xen_kernel_present=ok("xen_kernel"),
        xen_boot_menu_present=ok("xen_boot_menu"),
        log_dir=log_dir,
        files={path: parse_file_section(sections.get(file_section(path)), path) for path in WATCHED_FILES},
        domains=parse_xl_list(text("xl_list")) if xl_ok else None,
        xen_info=parse_xl_info(text("xl_info")) if xl_ok else None,
        xl_error=xl_error,
    )


class Dom0State(FactBase):
    """
    The whole Dom0-relevant state of a FreeBSD host: release, sysctls, Xen
    packages, CPU virtualisation and ACPI tables, interfaces, the config files we
    manage, and (once Xen runs) ``xl list`` and ``xl info``.

    .. code:: python

        from facts.dom0 import Dom0State
        dom0 = host.get_fact(Dom0State)
        if not dom0.under_xen: ...
    """

    def command(self) -> str:
        return composite_command(dom0_commands())

    def process(self, output: list[str]) -> Dom0Host:
        sections = split_sections(output, expected=dom0_commands())
        try:
            return parse_dom0_sections(sections)
        except ReadError:
            raise
        except (ValueError, KeyError, TypeError) as error:
            raise ReadError(f"cannot parse the host's answer: {type(error).__name__}: {error}") from None
