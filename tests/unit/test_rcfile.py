"""rc-style parsing and in-place editing (rc.conf, loader.conf, sysctl.conf, xl.conf)."""

import pytest

from facts.files import read_file_command
from facts.rcfile import RcFile, parse_rc_text
from facts.sections import ReadError, framed
from operations.rcfile import set_rc_values

# The FreeBSD Handbook's Xen chapter, section "Dom0 configuration" (loader.conf
# as the handbook has the reader write it), with a user's own lines around it.
LOADER_CONF = """\
# local settings
autoboot_delay="3"   # seconds
xen_kernel="/boot/xen"
xen_cmdline="dom0_mem=2048M dom0_max_vcpus=4 dom0=pvh console=com1,vga com1=115200,8n1 guest_loglvl=all loglvl=all"
zfs_load='YES'
kern.geom.label.disk_ident.enable=0
"""


def test_parse_quotes_comments_and_last_assignment_wins():
    values = parse_rc_text(LOADER_CONF + 'autoboot_delay="5"\n')
    assert values["autoboot_delay"] == "5"
    assert values["zfs_load"] == "YES"
    assert values["kern.geom.label.disk_ident.enable"] == "0"
    assert values["xen_cmdline"].startswith("dom0_mem=2048M ")


def test_parse_append_lines_like_sysrc():
    text = 'cloned_interfaces="lagg0"\ncloned_interfaces+="bridge0"\n# cloned_interfaces="no"\n'
    assert parse_rc_text(text) == {"cloned_interfaces": "lagg0 bridge0"}


def test_set_rewrites_in_place_and_keeps_everything_else():
    new = set_rc_values(LOADER_CONF, {"xen_cmdline": "dom0_mem=8192M", "autoboot_delay": "10"})
    lines = new.splitlines()
    assert lines[0] == "# local settings"
    assert lines[1] == 'autoboot_delay="10" # seconds'
    assert lines[3] == 'xen_cmdline="dom0_mem=8192M"'
    assert lines[4:] == ["zfs_load='YES'", "kern.geom.label.disk_ident.enable=0"]


def test_set_is_idempotent_and_leaves_equal_values_untouched():
    assert set_rc_values(LOADER_CONF, {"zfs_load": "YES"}) == LOADER_CONF
    once = set_rc_values("", {"a": "1", "b": "two words"})
    assert once == 'a="1"\nb="two words"\n'
    assert set_rc_values(once, {"a": "1", "b": "two words"}) == once


def test_set_folds_append_lines_into_the_rewritten_key():
    text = 'cloned_interfaces="lagg0"\nfoo="x"\ncloned_interfaces+="tap0"\n'
    new = set_rc_values(text, {"cloned_interfaces": "lagg0 tap0 bridge0"})
    assert new == 'cloned_interfaces="lagg0 tap0 bridge0"\nfoo="x"\n'


def test_remove_drops_every_assignment_of_a_key():
    text = 'a="1"\n# a="old"\nb="2"\na+="3"\n'
    assert set_rc_values(text, {}, remove=["a"]) == '# a="old"\nb="2"\n'


def test_unquoted_mode_for_sysctl_conf():
    text = "# sysctl.conf\nvm.max_wired=-1\n"
    new = set_rc_values(text, {"vm.max_user_wired": "-1"}, remove=["vm.max_wired"], quote=False)
    assert new == "# sysctl.conf\nvm.max_user_wired=-1\n"


@pytest.mark.parametrize("value", ['a"b', "$(reboot)", "`id`", "a\nb", "back\\slash", "x;reboot", "a|b", "a&b",
                                   "a<b", "a>b", "(a)", "it's", "s3cret\r"])
def test_values_that_rc_would_read_as_shell_syntax_are_refused_whatever_the_key(value):
    with pytest.raises(ValueError, match="key cannot be written to an rc file") as refused:
        set_rc_values("", {"key": value})
    assert value not in str(refused.value)  # the value may be a secret: never repeated


NO_FINAL_NEWLINE = 'hostname="xen1"\nsshd_enable="YES"'


def test_a_file_without_a_final_newline_is_kept_byte_for_byte():
    assert set_rc_values(NO_FINAL_NEWLINE, {"sshd_enable": "YES"}) == NO_FINAL_NEWLINE
    assert set_rc_values(NO_FINAL_NEWLINE, {"xencommons_enable": "YES"}) == NO_FINAL_NEWLINE + '\nxencommons_enable="YES"\n'
    assert set_rc_values(NO_FINAL_NEWLINE, {"sshd_enable": "NO"}) == 'hostname="xen1"\nsshd_enable="NO"'


def test_crlf_lines_keep_their_endings():
    text = 'hostname="xen1"\r\nsshd_enable="YES" # remote\r\n'
    assert set_rc_values(text, {"sshd_enable": "YES"}) == text
    assert set_rc_values(text, {"sshd_enable": "NO"}) == 'hostname="xen1"\r\nsshd_enable="NO" # remote\r\n'
    assert set_rc_values(text, {"a": "1"}) == text + 'a="1"\r\n'
    assert parse_rc_text(text) == {"hostname": "xen1", "sshd_enable": "YES"}


def test_lines_that_look_like_markers_or_junk_survive():
    text = "@@@0123 end 0\n\x00\xff junk \u2028 line\n# zfs_load=\"NO\"\nzfs_load=\"YES\"\n"
    assert set_rc_values(text, {"xen_kernel": "/boot/xen"}) == text + 'xen_kernel="/boot/xen"\n'


def test_fact_reads_through_the_same_framed_file_read():
    fact = RcFile()
    command = fact.command("/etc/rc conf")
    assert read_file_command("/etc/rc conf") in command
    assert fact.process(framed({"file:/etc/rc conf": ("file\n" + b'xencommons_enable="YES"'.hex(" "), 0)})) == {
        "xencommons_enable": "YES",
    }
    assert fact.process(framed({"file:/etc/rc conf": ("absent\n", 0)})) == {}
    with pytest.raises(ReadError, match="/etc/rc conf is a directory"):
        fact.process(framed({"file:/etc/rc conf": ("directory\n", 0)}))
    with pytest.raises(ReadError, match="began and did not end"):
        fact.process(framed({"file:/etc/rc conf": ("file\n61", 0)})[:-1])
