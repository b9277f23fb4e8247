"""
Xen's own xl config parser (libxlutil, from Debian's libxenmisc4.17) through ctypes.

The renderer's output is checked by the code that ``xl create`` itself runs, not
by a parser of ours that could share our misunderstandings:

    cfg = parse_cfg(text)               # xlu_cfg_init + xlu_cfg_readdata
    cfg.get_string("name"); cfg.get_long("memory"); cfg.get_list("disk")
    parse_disk_spec("vdev=hda, target=/dev/zvol/zroot/x")   # xlu_disk_parse

Both raise ``XlParseError`` carrying libxlutil's own error text when Xen
rejects the input. Tests call ``require_libxlutil()`` first: it skips them when
the library is not installed.

Struct layout: ``xlu_disk_parse`` fills a ``libxl_device_disk`` (generated from
tools/libs/light/libxl_types.idl). ``LibxlDeviceDisk`` below mirrors Xen 4.17's
_libxl_types.h field for field; its offsets were checked with offsetof() against
libxen-dev 4.17 (size 144 on x86-64, pdev_path at 16, vdev at 24, backend at 32,
format at 36, readwrite at 52, is_cdrom at 56, trusted at 136). The buffer handed
to C is padded to 4096 bytes so a newer library writing past the 4.17 fields
cannot corrupt Python memory, and the struct is initialised and disposed by
libxl's own libxl_device_disk_init/_dispose.
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from dataclasses import dataclass, field

LIBRARY = "libxlutil.so.4.17"

# libxl_types.idl enums (Xen 4.17).
DISK_BACKENDS = {0: "unknown", 1: "phy", 2: "tap", 3: "qdisk", 4: "standalone"}
DISK_FORMATS = {0: "unknown", 1: "qcow", 2: "qcow2", 3: "vhd", 4: "raw", 5: "empty", 6: "qed"}
DISK_SPECIFICATIONS = {0: "unknown", 1: "xen", 2: "virtio"}
DISK_TRANSPORTS = {0: "unknown", 1: "mmio"}

ESRCH = 3
EINVAL = 22


class XlParseError(ValueError):
    """libxlutil rejected the input; ``report`` is what it printed."""

    def __init__(self, what: str, errno: int, report: str):
        self.errno = errno
        self.report = report
        detail = report.strip() or os.strerror(errno)
        super().__init__(f"{what} (errno {errno}): {detail}")


class LibxlDefbool(ctypes.Structure):
    _fields_ = [("val", ctypes.c_int)]

    def value(self) -> bool | None:
        # libxl.h: 0 is "default", < 0 false, > 0 true.
        return None if self.val == 0 else self.val > 0


class LibxlDeviceDisk(ctypes.Structure):
    _fields_ = [
        ("backend_domid", ctypes.c_uint32),
        ("backend_domname", ctypes.c_char_p),
        ("pdev_path", ctypes.c_char_p),
        ("vdev", ctypes.c_char_p),
        ("backend", ctypes.c_int),
        ("format", ctypes.c_int),
        ("script", ctypes.c_char_p),
        ("removable", ctypes.c_int),
        ("readwrite", ctypes.c_int),
        ("is_cdrom", ctypes.c_int),
        ("direct_io_safe", ctypes.c_bool),
        ("discard_enable", LibxlDefbool),
        ("specification", ctypes.c_int),
        ("transport", ctypes.c_int),
        ("irq", ctypes.c_uint32),
        ("base", ctypes.c_uint64),
        ("colo_enable", LibxlDefbool),
        ("colo_restore_enable", LibxlDefbool),
        ("colo_host", ctypes.c_char_p),
        ("colo_port", ctypes.c_int),
        ("colo_export", ctypes.c_char_p),
        ("active_disk", ctypes.c_char_p),
        ("hidden_disk", ctypes.c_char_p),
        ("trusted", LibxlDefbool),
    ]


# Verified with offsetof() against Xen 4.17's _libxl_types.h (see module docstring).
EXPECTED_LAYOUT = {"pdev_path": 16, "vdev": 24, "backend": 32, "format": 36, "readwrite": 52, "is_cdrom": 56, "trusted": 136}
assert ctypes.sizeof(LibxlDeviceDisk) == 144, ctypes.sizeof(LibxlDeviceDisk)
assert {name: getattr(LibxlDeviceDisk, name).offset for name in EXPECTED_LAYOUT} == EXPECTED_LAYOUT


class _DiskBuffer(ctypes.Union):
    _fields_ = [("disk", LibxlDeviceDisk), ("_pad", ctypes.c_char * 4096)]


_lib: ctypes.CDLL | None = None
_libc: ctypes.CDLL | None = None
_load_error: str | None = None


def _load() -> ctypes.CDLL:
    global _lib, _libc, _load_error
    if _lib is not None:
        return _lib
    if _load_error is not None:
        raise OSError(_load_error)
    try:
        lib = ctypes.CDLL(LIBRARY)
    except OSError as error:
        _load_error = f"{LIBRARY} is not available ({error}): install Debian's libxenmisc4.17"
        raise OSError(_load_error) from None
    libc = ctypes.CDLL(None, use_errno=True)

    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fflush.argtypes = [ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]

    lib.xlu_cfg_init.restype = ctypes.c_void_p
    lib.xlu_cfg_init.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.xlu_cfg_readdata.restype = ctypes.c_int
    lib.xlu_cfg_readdata.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.xlu_cfg_destroy.restype = None
    lib.xlu_cfg_destroy.argtypes = [ctypes.c_void_p]
    lib.xlu_cfg_get_string.restype = ctypes.c_int
    lib.xlu_cfg_get_string.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
    lib.xlu_cfg_get_long.restype = ctypes.c_int
    lib.xlu_cfg_get_long.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_long), ctypes.c_int]
    lib.xlu_cfg_get_list.restype = ctypes.c_int
    lib.xlu_cfg_get_list.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int), ctypes.c_int,
    ]
    lib.xlu_cfg_get_listitem.restype = ctypes.c_char_p
    lib.xlu_cfg_get_listitem.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.xlu_disk_parse.restype = ctypes.c_int
    lib.xlu_disk_parse.argtypes = [
        ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(LibxlDeviceDisk),
    ]
    # From libxenlight, a dependency of libxlutil (dlsym searches it through our handle).
    lib.libxl_device_disk_init.restype = None
    lib.libxl_device_disk_init.argtypes = [ctypes.POINTER(LibxlDeviceDisk)]
    lib.libxl_device_disk_dispose.restype = None
    lib.libxl_device_disk_dispose.argtypes = [ctypes.POINTER(LibxlDeviceDisk)]
    _lib, _libc = lib, libc
    return lib


def available() -> bool:
    try:
        _load()
    except OSError:
        return False
    return True


def require_libxlutil() -> None:
    """Skip the calling test module when libxlutil is not installed."""

    import pytest

    try:
        _load()
    except OSError as error:
        pytest.skip(str(error), allow_module_level=True)


class _Report:
    """A C ``FILE*`` on a temporary file that libxlutil prints its messages to."""

    def __init__(self) -> None:
        _load()
        assert _libc is not None
        descriptor, self.path = tempfile.mkstemp(prefix="xlparse-", suffix=".log")
        os.close(descriptor)
        self.file = _libc.fopen(self.path.encode(), b"w")
        if not self.file:
            os.unlink(self.path)
            raise OSError(ctypes.get_errno(), f"fopen {self.path}")
        self.seen = 0

    def text(self) -> str:
        """Everything printed so far."""

        assert _libc is not None
        _libc.fflush(self.file)
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def new_text(self) -> str:
        """What was printed since the last call: the message for the latest failure."""

        text = self.text()
        fresh, self.seen = text[self.seen:], len(text)
        return fresh

    def close(self) -> None:
        if self.file:
            assert _libc is not None
            _libc.fclose(self.file)
            self.file = None
            os.unlink(self.path)


@dataclass
class XlCfg:
    """A parsed xl config. Values are read through libxlutil's own getters."""

    _cfg: int
    _report: _Report
    keys: list[str] = field(default_factory=list)

    def _check(self, what: str, rc: int) -> None:
        if rc == ESRCH:
            raise KeyError(what)
        if rc:
            raise XlParseError(what, rc, self._report.new_text())

    def get_string(self, key: str) -> str:
        value = ctypes.c_char_p()
        self._check(f"{key} as a string", _load().xlu_cfg_get_string(self._cfg, key.encode(), ctypes.byref(value), 0))
        assert value.value is not None
        return value.value.decode()

    def get_long(self, key: str) -> int:
        value = ctypes.c_long()
        self._check(f"{key} as a number", _load().xlu_cfg_get_long(self._cfg, key.encode(), ctypes.byref(value), 0))
        return value.value

    def get_list(self, key: str) -> list[str]:
        lib = _load()
        handle = ctypes.c_void_p()
        count = ctypes.c_int()
        self._check(f"{key} as a list", lib.xlu_cfg_get_list(self._cfg, key.encode(), ctypes.byref(handle), ctypes.byref(count), 0))
        items = []
        for index in range(count.value):
            item = lib.xlu_cfg_get_listitem(handle, index)
            if item is None:
                raise XlParseError(f"{key}[{index}] is not a string", EINVAL, self._report.new_text())
            items.append(item.decode())
        return items

    def has(self, key: str) -> bool:
        value = ctypes.c_char_p()
        rc = _load().xlu_cfg_get_string(self._cfg, key.encode(), ctypes.byref(value), 1)
        if rc == ESRCH:
            handle = ctypes.c_void_p()
            rc = _load().xlu_cfg_get_list(self._cfg, key.encode(), ctypes.byref(handle), None, 1)
        return rc != ESRCH

    @property
    def report(self) -> str:
        """Warnings libxlutil printed so far (empty for a clean config)."""

        return self._report.text()

    def close(self) -> None:
        if self._cfg:
            _load().xlu_cfg_destroy(self._cfg)
            self._cfg = 0
        self._report.close()

    def __enter__(self) -> "XlCfg":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def parse_cfg(text: str, filename: str = "guest.cfg") -> XlCfg:
    """Parse xl.cfg text as ``xl create`` does; ``XlParseError`` if Xen rejects it."""

    lib = _load()
    report = _Report()
    cfg = lib.xlu_cfg_init(report.file, filename.encode())
    if not cfg:
        report.close()
        raise MemoryError("xlu_cfg_init")
    data = text.encode()
    rc = lib.xlu_cfg_readdata(cfg, data, len(data))
    if rc:
        message = report.text()
        lib.xlu_cfg_destroy(cfg)
        report.close()
        raise XlParseError(f"xl config {filename} rejected", rc, message)
    return XlCfg(cfg, report)


def parse_disk_spec(spec: str) -> dict:
    """One DISK_SPEC_STRING through ``xlu_disk_parse``, as ``xl create`` parses each ``disk`` item."""

    lib = _load()
    report = _Report()
    cfg = lib.xlu_cfg_init(report.file, b"disk-spec")
    buffer = _DiskBuffer()
    disk = buffer.disk
    lib.libxl_device_disk_init(ctypes.byref(disk))
    try:
        specs = (ctypes.c_char_p * 1)(spec.encode())
        rc = lib.xlu_disk_parse(cfg, 1, specs, ctypes.byref(disk))
        if rc:
            raise XlParseError(f"disk spec {spec!r} rejected", rc, report.text())

        def text(value: bytes | None) -> str | None:
            return None if value is None else value.decode()

        return {
            "backend_domid": disk.backend_domid,
            "backend_domname": text(disk.backend_domname),
            "target": text(disk.pdev_path),
            "vdev": text(disk.vdev),
            "backend": DISK_BACKENDS.get(disk.backend, disk.backend),
            "format": DISK_FORMATS.get(disk.format, disk.format),
            "script": text(disk.script),
            "removable": disk.removable,
            "readwrite": disk.readwrite,
            "is_cdrom": disk.is_cdrom,
            "direct_io_safe": disk.direct_io_safe,
            "discard_enable": disk.discard_enable.value(),
            "specification": DISK_SPECIFICATIONS.get(disk.specification, disk.specification),
            "transport": DISK_TRANSPORTS.get(disk.transport, disk.transport),
            "colo_enable": disk.colo_enable.value(),
            "trusted": disk.trusted.value(),
        }
    finally:
        lib.libxl_device_disk_dispose(ctypes.byref(disk))
        lib.xlu_cfg_destroy(cfg)
        report.close()
