"""rc-style parsing and in-place editing (rc.conf, loader.conf, sysctl.conf, xl.conf)."""

import pytest

from facts.rcfile import RcFile, parse_rc_text
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


@pytest.mark.parametrize("value", ['a"b', "$(reboot)", "`id`", "a\nb", "back\\slash"])
def test_values_that_would_break_the_file_are_refused(value):
    with pytest.raises(ValueError, match="cannot be written safely"):
        set_rc_values("", {"key": value})


def test_fact_command_quotes_the_path_and_tolerates_absence():
    fact = RcFile()
    assert fact.command("/etc/rc conf") == "! test -f '/etc/rc conf' || cat '/etc/rc conf'"
    assert fact.process(['xencommons_enable="YES"']) == {"xencommons_enable": "YES"}
