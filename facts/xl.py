"""
Facts about the Xen toolstack (``xl``) on a Dom0.

The parsers are pure functions (text in, data out) so they can be tested on
real ``xl`` output; the ``FactBase`` classes only run the command.

.. code:: python

    from facts.xl import XlList, XlInfo, XlDomainConfig
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

from .sections import ReadError

XL_LIST_COMMAND = "xl list"
XL_INFO_COMMAND = "xl info"

# libxl's JSON carries VNC/SPICE passwords: they are replaced on the host, so
# they never travel or show up in pyinfra's output (-vvv prints facts) or in an
# error. A JSON string ends at the first quote not escaped by a backslash.
REDACTED = "<redacted>"
REDACT_PASSWORDS = r's/("[a-z_]*passw(or)?d" *: *)"([^"\\]|\\.)*"/\1"' + REDACTED + '"/g'


def xl_list_long_command(domain: str | None = None) -> str:
    """
    ``xl list -l [domain]`` with every password redacted before it leaves the
    host. The JSON is held in a shell variable (printf is a builtin: nothing on
    argv) so the exit status is xl's, not sed's.
    """

    target = f" {shlex.quote(domain)}" if domain else ""
    return (
        f'json=$(xl list -l{target} 2>&1); rc=$?; '
        f'printf "%s\\n" "$json" | sed -E {shlex.quote(REDACT_PASSWORDS)}; (exit $rc)'
    )

# The name xl lists for a domain that has none in xenstore (list_domains prints
# libxl_domid_to_name's NULL with %s, which FreeBSD's and glibc's printf show so):
# a domain libxl is destroying after removing /local/domain/N (the real Xen 4.17
# showed one right after `xl migrate` returned), or a zombie that stays.
NAMELESS = "(null)"

# The six positional flags of the State column, in order (xl(1), "STATES").
STATE_FLAGS = ("running", "blocked", "paused", "shutdown", "crashed", "dying")

# xl's row format (tools/xl/xl_info.c list_domains):
#   "%-40s %5d %5lu %5d     %c%c%c%c%c%c  %8.1f" then optional extra columns
# (security label with -Z/-v, Claimed for `xl claims`, cpupool with -c).
# The name is matched lazily so a name containing spaces still parses.
_ROW = re.compile(
    r"^(?P<name>\S.*?)\s+(?P<domid>\d+)\s+(?P<mem>\d+)\s+(?P<vcpus>\d+)\s+"
    r"(?P<state>[r-][b-][p-][s-][-a-zA-Z?][d-])\s+(?P<time>\d+(?:\.\d+)?)(?:\s+.*)?$",
)

_HEADER = re.compile(r"^\s*Name\s+ID\s+Mem\s+VCPUs\s+State\s+Time")

# "name<spaces>: value" (tools/xl/xl_info.c pads names to 22 columns); the value may be empty.
_INFO_LINE = re.compile(r"^\s*([A-Za-z0-9_]+)\s+:(?:\s(.*))?$")

INFO_INTEGERS = frozenset(
    (
        "total_memory",
        "free_memory",
        "nr_cpus",
        "nr_nodes",
        "cores_per_socket",
        "threads_per_core",
        "xen_major",
        "xen_minor",
        "sharing_freed_memory",
        "sharing_used_memory",
        "outstanding_claims",
        "free_cpus",
        "cpu_mhz",
    ),
)
INFO_WORD_SETS = frozenset(("virt_caps", "xen_caps"))


@dataclass(frozen=True)
class XlDomain:
    name: str
    domid: int
    mem_mib: int
    vcpus: int
    state: frozenset[str]
    state_flags: str
    cpu_time: float

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def paused(self) -> bool:
        return "paused" in self.state


def decode_state(flags: str) -> frozenset[str]:
    """
    Decode xl's six positional state letters (``r b p s c d``; ``-`` means off).

    The fifth position carries libxl's shutdown-reason letter (``-rscwS``):
    ``c`` is a crash, the other letters only qualify ``s`` (shutdown) and add
    no state of their own.
    """

    if len(flags) != len(STATE_FLAGS):
        raise ValueError(f"xl state must have 6 positions: {flags!r}")
    state = set()
    for index, (letter, name) in enumerate(zip(flags, STATE_FLAGS)):
        if index == 4:
            if letter == "c":
                state.add(name)
        elif letter != "-":
            state.add(name)
    return frozenset(state)


# What libxl and libxc print on stderr (merged into the read) besides the table.
XL_DIAGNOSTIC_PREFIXES = ("libxl: ", "xc: ", "xencall: ", "xenforeignmemory: ", "xengnttab: ", "xenevtchn: ")


def parse_xl_list(text: str) -> list[XlDomain]:
    """
    Parse ``xl list`` (also ``xl list -Z``/``-v``/``xl claims``: extra columns are
    ignored). The header may be tab or space separated; blank lines and libxl's
    own diagnostics are skipped. Any other line is an error (ValueError): a
    domain row the parser could not read would be taken for a domain that is
    not there, and the guest started a second time.
    """

    domains = []
    for line in text.splitlines():
        if not line.strip() or _HEADER.match(line) or line.startswith(XL_DIAGNOSTIC_PREFIXES):
            continue
        match = _ROW.match(line.strip())
        if not match:
            raise ValueError(f"unexpected xl list line: {line[:200]!r}")
        flags = match.group("state")
        domains.append(
            XlDomain(
                name=match.group("name").strip(),
                domid=int(match.group("domid")),
                mem_mib=int(match.group("mem")),
                vcpus=int(match.group("vcpus")),
                state=decode_state(flags),
                state_flags=flags,
                cpu_time=float(match.group("time")),
            ),
        )
    return domains


def _info_int(value: str) -> int | str:
    # cpu_mhz is "%d.%03d" since Xen 4.x ("2994.120"): keep whole MHz.
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return int(float(value))
    except ValueError:
        return value


def parse_xl_info(text: str) -> dict[str, object]:
    """
    Parse ``xl info`` (``name<padding> : value`` lines). Values are stripped
    strings, except ``virt_caps``/``xen_caps`` (frozensets of words) and the
    counters listed in ``INFO_INTEGERS`` (ints). Other lines are ignored: the
    tables of ``xl info -n`` and error messages such as ``libxl: error: ...``.
    """

    info: dict[str, object] = {}
    for line in text.splitlines():
        match = _INFO_LINE.match(line)
        if not match:
            continue
        name, value = match.group(1), (match.group(2) or "").strip()
        if name in INFO_WORD_SETS:
            info[name] = frozenset(value.split())
        elif name in INFO_INTEGERS:
            info[name] = _info_int(value)
        else:
            info[name] = value
    return info


def parse_xl_list_long(text: str) -> dict[str, dict]:
    """
    Parse ``xl list -l`` (a JSON array of ``{"domid": N, "config": {...}}`` as
    printed by tools/xl/xl_info.c) into ``{name: entry}``, the name taken from
    ``config.c_info.name``. Empty output (no domain could be described) is ``{}``.
    """

    if not text.strip():
        return {}
    data = json.loads(text)
    if isinstance(data, dict):  # `xl list -l` of one domain in old xl versions
        data = [data]
    if not isinstance(data, list):
        raise ValueError("xl list -l did not print a JSON array")
    domains: dict[str, dict] = {}
    for entry in data:
        if not isinstance(entry, dict) or "config" not in entry:
            raise ValueError("xl list -l entry without a config")
        name = ((entry.get("config") or {}).get("c_info") or {}).get("name")
        if not name:
            raise ValueError(f"xl list -l entry without a name (domid {entry.get('domid')})")
        domains[name] = entry
    return domains


def parse_xl_list_long_or_fail(text: str) -> dict[str, dict]:
    """``parse_xl_list_long``, failing the host (not the run) on output it cannot parse; never quoting it."""

    try:
        return parse_xl_list_long(text)
    except ValueError as error:
        # json's messages give positions, never the text (which may hold a secret).
        raise ReadError(f"cannot parse xl list -l: {error}") from None


class XlList(FactBase):
    """
    Returns the running domains from ``xl list``.

    .. code:: python

        [XlDomain(name="Domain-0", domid=0, mem_mib=8192, vcpus=4,
                  state=frozenset({"running"}), state_flags="r-----", cpu_time=962.0)]
    """

    default = list

    def command(self) -> str:
        return XL_LIST_COMMAND

    def requires_command(self) -> str:
        return "xl"

    def process(self, output: list[str]) -> list[XlDomain]:
        return parse_xl_list("\n".join(output))


class XlInfo(FactBase):
    """
    Returns the hypervisor's ``xl info`` as a dict.

    .. code:: python

        {"xen_major": 4, "xen_minor": 18, "free_memory": 4274,
         "virt_caps": frozenset({"hvm", "hvm_directio"}), ...}
    """

    default = dict

    def command(self) -> str:
        return XL_INFO_COMMAND

    def requires_command(self) -> str:
        return "xl"

    def process(self, output: list[str]) -> dict[str, object]:
        return parse_xl_info("\n".join(output))


class XlDomainConfig(FactBase):
    """
    Returns the live libxl configuration of domains from ``xl list -l [domain]``,
    keyed by domain name: ``host.get_fact(XlDomainConfig, domain="freebsd")``.

    .. code:: python

        {"freebsd": {"domid": 1, "config": {"c_info": {...}, "b_info": {...},
                                            "disks": [...], "nics": [...]}}}
    """

    default = dict

    # The argument is ``domain``: pyinfra reserves ``name`` for its global arguments.
    def command(self, domain: str | None = None) -> str:
        return xl_list_long_command(domain)

    def requires_command(self, domain: str | None = None) -> str:
        return "xl"

    def process(self, output: list[str]) -> dict[str, dict]:
        return parse_xl_list_long_or_fail("\n".join(output))
