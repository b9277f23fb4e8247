"""facts/ttys.py on the stock FreeBSD 14 and FreeBSD 11 /etc/ttys."""

from pathlib import Path

import pytest

from facts.dom0 import dom0_commands
from facts.files import FileContent, read_file_command
from facts.sections import ReadError, framed
from facts.ttys import TtyEntry, Ttys, ensure_tty, parse_ttys

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"
TTYS14 = (OUT / "ttys.freebsd14").read_text()
TTYS11 = (OUT / "ttys.freebsd11").read_text()
XC0 = 'xc0\t"/usr/libexec/getty Pc"\t\txterm\tonifconsole  secure'


def test_stock_14_entries():
    entries = parse_ttys(TTYS14)
    assert [e.name for e in entries] == [
        "console", "ttyv0", "ttyv1", "ttyv2", "ttyv3", "ttyv4", "ttyv5", "ttyv6", "ttyv7", "ttyv8",
        "ttyu0", "ttyu1", "ttyu2", "ttyu3", "dcons", "xc0", "rcons",
    ]
    assert not any(e.commented for e in entries)  # the header and prose comments are not entries
    xc0 = entries[-2]
    assert xc0 == TtyEntry("xc0", "/usr/libexec/getty Pc", "xterm", ("onifconsole", "secure"), 50, False)
    assert TTYS14.splitlines()[49].startswith("xc0\t")
    assert xc0.enabled
    ttyv8 = entries[9]
    assert ttyv8.getty == "/usr/local/bin/xdm -nodaemon" and ttyv8.status == ("off", "secure")
    assert not ttyv8.enabled
    assert entries[0] == TtyEntry("console", "none", "unknown", ("off", "secure"), 29, False)


def test_stock_11_has_no_xc0():
    assert "xc0" not in [e.name for e in parse_ttys(TTYS11)]


def test_commented_entries():
    text = '#ttyv8\t"/usr/local/bin/xdm -nodaemon"\txterm\toff secure\n# status Must be on or off.  If on, init will run\n'
    assert parse_ttys(text) == [
        TtyEntry("ttyv8", "/usr/local/bin/xdm -nodaemon", "xterm", ("off", "secure"), 1, True),
    ]


def test_trailing_comment_and_window_flag():
    text = 'ttyv0\t"/usr/libexec/getty Pc"\txterm\ton  secure window=/usr/local/bin/xterm # main\n'
    (entry,) = parse_ttys(text)
    assert entry.status == ("on", "secure", "window=/usr/local/bin/xterm")


def test_ensure_unchanged_on_freebsd14():
    assert ensure_tty(TTYS14, "xc0", XC0) == TTYS14


def test_ensure_appends_on_freebsd11():
    new = ensure_tty(TTYS11, "xc0", XC0)
    assert new == TTYS11 + XC0 + "\n"
    assert ensure_tty(new, "xc0", XC0) == new


def test_ensure_appends_newline_when_file_lacks_one():
    assert ensure_tty("console\tnone\tunknown\toff secure", "xc0", XC0) == (
        "console\tnone\tunknown\toff secure\n" + XC0 + "\n"
    )


def test_ensure_turns_off_into_on_in_place():
    old = TTYS14.replace("xterm\tonifconsole secure\n# RISC", "xterm\toff secure\n# RISC")
    new = ensure_tty(old, "xc0", XC0)
    assert new == TTYS14.replace("xterm\tonifconsole secure\n# RISC", "xterm\ton secure\n# RISC")
    assert ensure_tty(new, "xc0", XC0) == new


def test_ensure_ignores_commented_entries():
    text = TTYS11 + '#xc0\t"/usr/libexec/getty Pc"\t\txterm\tonifconsole secure\n'
    assert ensure_tty(text, "xc0", XC0) == text + XC0 + "\n"


def test_ensure_drops_duplicates_keeps_first():
    text = TTYS14 + XC0 + "\n" + 'xc0\t"/usr/libexec/getty Pc"\txterm\toff secure\n'
    assert ensure_tty(text, "xc0", XC0) == TTYS14


def test_ensure_duplicates_first_off():
    text = TTYS11 + 'xc0\t"/usr/libexec/getty Pc"\txterm\toff secure\n' + XC0 + "\n"
    assert ensure_tty(text, "xc0", XC0) == TTYS11 + 'xc0\t"/usr/libexec/getty Pc"\txterm\ton secure\n'


def test_ensure_entry_without_switch_is_replaced():
    text = 'xc0\t"/usr/libexec/getty Pc"\txterm\n'
    assert ensure_tty(text, "xc0", XC0) == XC0 + "\n"


def test_fact_reads_the_file_as_the_dom0_read_does():
    assert Ttys().command() == FileContent().command("/etc/ttys")
    assert read_file_command("/etc/ttys") in dom0_commands().values()
    dump = "file\n" + TTYS11.encode().hex(" ")
    assert [e.name for e in Ttys().process(framed({"file:/etc/ttys": (dump, 0)}))][-1] == "dcons"
    with pytest.raises(ReadError, match="/etc/ttys is a directory"):
        Ttys().process(framed({"file:/etc/ttys": ("directory\n", 0)}))
