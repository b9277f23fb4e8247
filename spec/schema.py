"""
Validation of the inventory's host data: every ``xen_*`` key, once, up front.

The key names are the project's public interface (see the README's host-data
reference). ``validate_dom0`` turns pydantic's errors into plain sentences
that name the host, the key and the fix.

    >>> spec = validate_dom0("xen1", {"xen_bridge_members": ["igb0"]})
    >>> spec.xen_dom0_mem
    '8192M'
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .cmdline import MANAGED_OPTIONS, build_cmdline, option_name, size_to_mib
from .rcvalue import check_rc_value
from .versions import XenRelease, xen_release

INTERFACE_NAME = re.compile(r"\A[a-z][a-z0-9_]*[0-9]+\Z")
BRIDGE_NAME = re.compile(r"\Abridge[0-9]+\Z")
CONSOLE_VALUE = re.compile(r"\A(com1|com2|vga|dbgp|ehci|xhci|none)(,(com1|com2|vga|dbgp|ehci|xhci|none))*\Z")
SERIAL_VALUE = re.compile(r"\Acom[12]=[0-9a-z,/]+\Z")
LOGLVL_WORDS = "none|error|warning|info|debug|all"
LOGLVL_VALUE = re.compile(rf"\A({LOGLVL_WORDS})(/({LOGLVL_WORDS}))?\Z")
CMDLINE_WORD = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.,:=/+-]*\Z")
# Words ifconfig(8) takes after an address in ifconfig_<bridge>: keywords and
# their values (mtu 9000, vhid 1, -ifdisabled, description dom0-bridge).
IFCONFIG_WORD = re.compile(r"\A-?[A-Za-z0-9][A-Za-z0-9_.:/]*\Z")
IFCONFIG_OPTIONS_HINT = "ifconfig words such as 'mtu 9000' or '-ifdisabled'"


class InventoryError(ValueError):
    """Bad host data. ``problems`` holds one plain sentence per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def check_bridge_ip(value: str) -> str:
    """
    ``xen_bridge_ip``: what goes after the members in ``ifconfig_<bridge>``:
    ``SYNCDHCP``, ``DHCP``, ``""`` (no address), or ``inet ADDR/LEN`` /
    ``inet6 ADDR/LEN`` followed by plain ifconfig words.
    """

    fix = "use SYNCDHCP, DHCP, 'inet 192.0.2.10/24', 'inet6 2001:db8::10/64' or ''"
    if value in ("", "SYNCDHCP", "DHCP"):
        return value
    bad = next((c for c in value if not (c.isascii() and (c.isalnum() or c in " _.,/:=+@%-"))), None)
    if bad is not None:
        raise ValueError(f"contains {_describe(bad)}, which cannot be an address setting: {fix}")
    words = value.split(" ")
    if len(words) < 2 or words[0] not in ("inet", "inet6") or "" in words:
        raise ValueError(f"{value!r} is not an address setting: {fix}")
    family, address, options = words[0], words[1], words[2:]
    if "/" not in address:
        raise ValueError(f"{value!r} has no prefix length: write it as ADDRESS/LEN, e.g. {family} "
                         f"{'192.0.2.10/24' if family == 'inet' else '2001:db8::10/64'}")
    try:
        interface = ipaddress.ip_interface(address)
    except ValueError:
        raise ValueError(f"{address!r} is not an address with a prefix length: {fix}") from None
    if (family == "inet") != (interface.version == 4):
        raise ValueError(f"{address!r} is not an {'IPv4' if family == 'inet' else 'IPv6'} address: "
                         f"write {'inet6' if family == 'inet' else 'inet'} before it")
    scope = getattr(interface, "scope_id", None)
    if scope is not None and not INTERFACE_NAME.fullmatch(scope) and not BRIDGE_NAME.fullmatch(scope):
        raise ValueError(f"{address!r}: the scope after % must be an interface name like bridge0")
    for word in options:
        if not IFCONFIG_WORD.fullmatch(word):
            raise ValueError(f"{word!r} after the address is not a plain ifconfig word: use {IFCONFIG_OPTIONS_HINT}")
    return value


def _describe(char: str) -> str:
    from .rcvalue import describe_char

    return describe_char(char)


class Dom0Spec(BaseModel):
    """The desired Dom0. Field names are the host-data keys."""

    # strict: "yes" is not a boolean, "4" is not a number (pydantic would convert both).
    # hide_input_in_errors: no error text repeats a value (describe_error decides what is shown).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, hide_input_in_errors=True)

    xen_version: str | None = None
    xen_dom0_mem: str = "8192M"
    xen_dom0_max_vcpus: int = Field(default=4, ge=1, le=512)
    xen_console: str = "com1,vga"
    xen_serial: str = "com1=115200,8n1"
    xen_loglvl: str = "all"
    xen_guest_loglvl: str = "all"
    xen_cmdline_extra: str = ""
    xen_bridge: str = "bridge0"
    xen_bridge_members: list[str]
    xen_bridge_style: Literal["cloned", "autobridge"] = "cloned"
    xen_bridge_ip: str = "SYNCDHCP"
    xen_reboot: bool = True
    # Whether a reboot may stop running guests that autostart will not bring back
    # (they stay stopped); False: the Dom0 deploy refuses and names them.
    xen_reboot_stops_guests: bool = False

    @field_validator("xen_version")
    @classmethod
    def _known_version(cls, value: str | None) -> str | None:
        if value is not None:
            xen_release(value)
        return value

    @field_validator("xen_dom0_mem")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        try:
            mib = size_to_mib(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a size: write it like 8192M or 8G") from None
        if mib < 512:
            raise ValueError(f"{value} is too little for a FreeBSD Dom0: give it at least 512M")
        return value

    @field_validator("xen_console")
    @classmethod
    def _console(cls, value: str) -> str:
        if not CONSOLE_VALUE.fullmatch(value):
            raise ValueError(f"{value!r} is not a Xen console list: use e.g. com1,vga or vga")
        return value

    @field_validator("xen_serial")
    @classmethod
    def _serial(cls, value: str) -> str:
        if value and not SERIAL_VALUE.fullmatch(value):
            raise ValueError(f"{value!r} is not a serial setting: use e.g. com1=115200,8n1")
        return value

    @field_validator("xen_loglvl", "xen_guest_loglvl")
    @classmethod
    def _loglvl(cls, value: str) -> str:
        if not LOGLVL_VALUE.fullmatch(value):
            raise ValueError(f"{value!r} is not a Xen log level: use one of {LOGLVL_WORDS.replace('|', ', ')}")
        return value

    @field_validator("xen_cmdline_extra")
    @classmethod
    def _cmdline_extra(cls, value: str) -> str:
        for word in value.split():
            if not CMDLINE_WORD.fullmatch(word):
                raise ValueError(
                    f"{word!r} cannot go on the Xen command line: only letters, digits and _.,:=/+- are allowed, starting with a letter, digit or _",
                )
            managed_by = MANAGED_OPTIONS.get(option_name(word))
            if managed_by:
                raise ValueError(f"{option_name(word)} is set from {managed_by}: set that key instead")
        return value

    @field_validator("xen_bridge")
    @classmethod
    def _bridge(cls, value: str) -> str:
        if not BRIDGE_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a FreeBSD bridge name: use bridge0, bridge1, ...")
        return value

    @field_validator("xen_bridge_members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("list at least one physical interface to put in the bridge, e.g. ['em0']")
        for name in value:
            if not INTERFACE_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a FreeBSD interface name like em0 or igb1")
            if BRIDGE_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is a bridge: list the physical interfaces that join the bridge")
        if len(set(value)) != len(value):
            raise ValueError("an interface is listed twice")
        return value

    @field_validator("xen_bridge_ip")
    @classmethod
    def _bridge_ip(cls, value: str) -> str:
        return check_bridge_ip(value)

    @model_validator(mode="after")
    def _bridge_not_member(self) -> "Dom0Spec":
        if self.xen_bridge in self.xen_bridge_members:
            raise ValueError("xen_bridge_members must not contain the bridge itself")
        return self

    @model_validator(mode="after")
    def _rc_safe(self) -> "Dom0Spec":
        # Whatever each key's own check allowed, nothing that reaches loader.conf
        # or rc.conf may be shell syntax to rc (spec.rcvalue is the one rule).
        check_rc_value("xen_cmdline", self.cmdline)
        for key in ("xen_bridge", "xen_bridge_ip"):
            check_rc_value(key, getattr(self, key))
        for member in self.xen_bridge_members:
            check_rc_value("xen_bridge_members", member)
        return self

    # Derived values

    @property
    def release(self) -> XenRelease:
        return xen_release(self.xen_version)

    @property
    def dom0_mem_mib(self) -> int:
        return size_to_mib(self.xen_dom0_mem)

    @property
    def cmdline(self) -> str:
        return build_cmdline(
            self.release,
            dom0_mem=self.xen_dom0_mem,
            dom0_max_vcpus=self.xen_dom0_max_vcpus,
            console=self.xen_console,
            serial=self.xen_serial,
            loglvl=self.xen_loglvl,
            guest_loglvl=self.xen_guest_loglvl,
            extra=self.xen_cmdline_extra,
        )


# Keys that other deploys own (guests, migration); registered by their modules so
# that the unknown-key check knows every public key.
EXTRA_KEY_MODELS: dict[str, Any] = {}


def known_keys() -> set[str]:
    return set(Dom0Spec.model_fields) | set(EXTRA_KEY_MODELS)


def xen_keys(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key.startswith("xen_")}


def unknown_key_problems(host_name: str, data: dict[str, Any]) -> list[str]:
    known = known_keys()
    problems = []
    for key in sorted(xen_keys(data)):
        if key in known:
            continue
        guess = difflib.get_close_matches(key, sorted(known), n=1)
        hint = f"did you mean {guess[0]}?" if guess else "see the README's host-data reference"
        problems.append(f"{host_name}: unknown host-data key {key}: {hint}")
    return problems


# A location with one of these parts may hold a secret: its value is never shown.
SECRET_LOCATION = re.compile(r"passw|secret|vnc|spice|extra", re.IGNORECASE)
SHOWN_VALUE_MAX = 40
# What to write instead, for pydantic's type errors (types are strict: no "yes" for True).
TYPE_FIXES = {
    "bool_type": "write True or False, without quotes",
    "int_type": "write a whole number without quotes, e.g. 4",
    "string_type": "write it as a string, in quotes",
    "list_type": "write a list, e.g. ['em0']",
    "dict_type": "write a mapping, e.g. {'key': 'value'}",
    "model_type": "write a mapping of its keys (see the README's host-data reference)",
    "model_attributes_type": "write a mapping of its keys (see the README's host-data reference)",
}


def _model_at(root: Any, location: tuple) -> Any:
    """The pydantic model class that holds the last part of ``location``, or None."""

    model = root
    for part in location[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = _inner_model(field.annotation)
        if model is None:
            return None
    return model


def _inner_model(annotation: Any) -> Any:
    """The model inside ``X``, ``X | None`` or ``list[X]``."""

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        inner = _inner_model(argument)
        if inner is not None:
            return inner
    return None


def shown_value(location: tuple, value: Any) -> str | None:
    """How an error may show the value it refused: short scalars outside secret keys; else nothing."""

    if any(SECRET_LOCATION.search(str(part)) for part in location):
        return None
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= SHOWN_VALUE_MAX else text[: SHOWN_VALUE_MAX - 4] + "...'"
    return f"a {type(value).__name__}"


def describe_error(host_name: str, error: dict[str, Any], data: dict[str, Any], root: Any = None) -> str:
    """
    One pydantic error as a sentence: host, key path, fix; the refused value
    only when it is short and cannot be a secret (``shown_value``).
    """

    location = tuple(error.get("loc", ()))
    key = ""
    for part in location:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    message = error.get("msg", "invalid")
    message = message.removeprefix("Value error, ")
    kind = error.get("type", "")
    if kind == "missing":
        message = "is required"
        if key == "xen_bridge_members":
            message += ": list the physical interfaces for the guests' bridge, e.g. ['em0']"
    elif kind == "extra_forbidden":
        message = "is not a known key"
        model = _model_at(root, location) if root is not None and location else None
        if model is not None and isinstance(location[-1], str):
            guess = difflib.get_close_matches(location[-1], sorted(model.model_fields), n=1)
            known = ", ".join(sorted(model.model_fields))
            message += f": did you mean {guess[0]}?" if guess else f": the keys here are {known}"
    elif "input" in error and kind not in ("value_error",):
        if kind in ("model_type", "model_attributes_type"):
            message = "is not a mapping"  # pydantic's text names our internal class
        if kind in TYPE_FIXES:
            message = f"{message}: {TYPE_FIXES[kind]}"
        shown = shown_value(location, error["input"])
        if shown is not None:
            message = f"{shown}: {message}"
    return f"{host_name}: {key or 'host data'} {message}"


def validate_dom0(host_name: str, data: dict[str, Any]) -> Dom0Spec:
    """Validate the Dom0 keys of one host's data. Raises ``InventoryError``."""

    problems = unknown_key_problems(host_name, data)
    dom0_data = {key: value for key, value in xen_keys(data).items() if key in Dom0Spec.model_fields}
    spec = None
    try:
        spec = Dom0Spec(**dom0_data)
    except ValidationError as error:
        problems.extend(describe_error(host_name, e, data, Dom0Spec) for e in error.errors())
    if problems:
        raise InventoryError(problems)
    assert spec is not None
    return spec

