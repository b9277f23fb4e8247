"""facts/logincap.py on the stock FreeBSD 14 /etc/login.conf and a customised one."""

from pathlib import Path

import pytest

from facts.dom0 import dom0_commands
from facts.files import FileContent, read_file_command
from facts.sections import ReadError, framed
from facts.logincap import LoginConf, login_class, parse_login_conf, set_login_capability

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"
STOCK = (OUT / "login.conf.freebsd14").read_text()

CUSTOM = """\
# site login.conf
default|Default class:\\
    :passwd_format=sha512:\\
    :memorylocked=unlimited:\\
    :umask=022:
# a one-line class
build:memorylocked#65536:tc=default:
locked:\\
    :memorylocked@:\\
    :tc=default:
# example, not a class:
#xen:\\
#    :memorylocked=64K:
"""


def changed_lines(old: str, new: str) -> list[tuple[str, str]]:
    import difflib

    return [
        (line[0], line[1:])
        for line in difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_stock_classes():
    classes = parse_login_conf(STOCK)
    assert [c.names for c in classes] == [
        ("default",), ("standard",), ("xuser",), ("staff",), ("daemon",), ("news",), ("dialer",), ("root",),
        ("russian", "Russian Users Accounts"),
    ]
    default = classes[0]
    assert (default.start_line, default.end_line) == (24, 51)
    assert STOCK.splitlines()[23] == "default:\\"
    assert default.capabilities["memorylocked"] == "64K"
    assert default.capabilities["setenv"] == "BLOCKSIZE=K"
    assert default.capabilities["mail"] == "/var/mail/$"
    assert default.capabilities["path"] == "/sbin /bin /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin ~/bin"
    assert default.capabilities["lang"] == "C.UTF-8"
    assert len(default.capabilities) == 27


def test_stock_daemon_disabled_and_root():
    daemon = login_class(STOCK, "daemon")
    assert daemon.capabilities == {
        "path": "/sbin /bin /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin",
        "mail": False,
        "memorylocked": "128M",
        "tc": "default",
    }
    root = login_class(STOCK, "root")
    assert root.capabilities == {"ignorenologin": True, "memorylocked": "unlimited", "tc": "default"}


def test_commented_example_classes_are_not_classes():
    # The stock file has "#default:\" and "#standard:\" examples.
    assert [c.name for c in parse_login_conf(STOCK)].count("default") == 1
    assert login_class(STOCK, "standard").capabilities == {"tc": "default"}
    assert login_class(CUSTOM, "xen") is None


def test_alias_lookup():
    assert login_class(STOCK, "Russian Users Accounts").name == "russian"
    assert login_class(CUSTOM, "Default class").name == "default"
    assert login_class(STOCK, "nosuch") is None


def test_handbook_change_on_stock_file():
    new = set_login_capability(STOCK, "default", "memorylocked", "unlimited")
    assert changed_lines(STOCK, new) == [("-", "\t:memorylocked=64K:\\\n"), ("+", "\t:memorylocked=unlimited:\\\n")]
    # Only the default class changed: daemon keeps 128M, root keeps unlimited.
    assert login_class(new, "daemon").capabilities["memorylocked"] == "128M"
    assert login_class(new, "default").capabilities["memorylocked"] == "unlimited"
    assert len(new) == len(STOCK) + len("unlimited") - len("64K")


def test_idempotent():
    once = set_login_capability(STOCK, "default", "memorylocked", "unlimited")
    assert set_login_capability(once, "default", "memorylocked", "unlimited") == once
    assert set_login_capability(CUSTOM, "default", "memorylocked", "unlimited") == CUSTOM
    assert set_login_capability(STOCK, "root", "memorylocked", "unlimited") == STOCK


def test_insert_in_stock_style():
    new = set_login_capability(STOCK, "russian", "memorylocked", "unlimited")
    assert changed_lines(STOCK, new) == [("+", "\t:memorylocked=unlimited:\\\n")]
    lines = new.splitlines()
    assert lines[91:95] == [
        "russian|Russian Users Accounts:\\",
        "\t:memorylocked=unlimited:\\",
        "\t:charset=UTF-8:\\",
        "\t:lang=ru_RU.UTF-8:\\",
    ]
    assert login_class(new, "russian").capabilities["memorylocked"] == "unlimited"
    assert set_login_capability(new, "russian", "memorylocked", "unlimited") == new


def test_insert_in_custom_indentation():
    text = "xen:\\\n    :tc=default:\n"
    assert set_login_capability(text, "xen", "memorylocked", "unlimited") == (
        "xen:\\\n    :memorylocked=unlimited:\\\n    :tc=default:\n"
    )


def test_replace_numeric_and_disabled_forms():
    new = set_login_capability(CUSTOM, "build", "memorylocked", "unlimited")
    assert changed_lines(CUSTOM, new) == [
        ("-", "build:memorylocked#65536:tc=default:\n"),
        ("+", "build:memorylocked=unlimited:tc=default:\n"),
    ]
    new = set_login_capability(CUSTOM, "locked", "memorylocked", "unlimited")
    assert changed_lines(CUSTOM, new) == [("-", "    :memorylocked@:\\\n"), ("+", "    :memorylocked=unlimited:\\\n")]


def test_one_line_record_insert():
    text = "standard:tc=default:\n"
    assert set_login_capability(text, "standard", "umask", "002") == "standard:umask=002:tc=default:\n"


def test_similar_names_are_not_touched():
    text = "default:\\\n\t:memorylocked-cur=10M:\\\n\t:umask=022:\n"
    new = set_login_capability(text, "default", "memorylocked", "unlimited")
    assert new == "default:\\\n\t:memorylocked=unlimited:\\\n\t:memorylocked-cur=10M:\\\n\t:umask=022:\n"


def test_set_by_alias_changes_only_that_class():
    new = set_login_capability(CUSTOM, "Default class", "umask", "077")
    assert changed_lines(CUSTOM, new) == [("-", "    :umask=022:\n"), ("+", "    :umask=077:\n")]


def test_crlf_line_endings_are_kept():
    text = "default:\\\r\n\t:memorylocked=64K:\\\r\n\t:umask=022:\r\n"
    assert set_login_capability(text, "default", "memorylocked", "unlimited") == (
        "default:\\\r\n\t:memorylocked=unlimited:\\\r\n\t:umask=022:\r\n"
    )


def test_errors():
    with pytest.raises(ValueError):
        set_login_capability(STOCK, "nosuch", "memorylocked", "unlimited")
    with pytest.raises(ValueError):
        set_login_capability(STOCK, "default", "memorylocked", "a:b")
    with pytest.raises(ValueError):
        set_login_capability(STOCK, "default", "bad name", "1")


def test_fact_reads_the_file_as_the_dom0_read_does():
    assert LoginConf().command() == FileContent().command("/etc/login.conf")
    assert read_file_command("/etc/login.conf") in dom0_commands().values()
    dump = "file\n" + STOCK.rstrip("\n").encode().hex(" ")  # the stock file, its final newline lost
    classes = LoginConf().process(framed({"file:/etc/login.conf": (dump, 0)}))
    assert classes[0].name == "default" and classes[0].capabilities["memorylocked"] == "64K"
    with pytest.raises(ReadError, match="/etc/login.conf does not exist"):
        LoginConf().process(framed({"file:/etc/login.conf": ("absent\n", 0)}))
