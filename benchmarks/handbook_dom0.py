"""
Baseline for the benchmarks: the FreeBSD Handbook's Xen chapter ("Xen Dom0
configuration"), step by step, written with pyinfra's built-in operations only.

    pyinfra -y INVENTORY benchmarks/handbook_dom0.py

It uses the Handbook's values (``dom0_mem=8192M dom0_max_vcpus=4``, ``em0`` in
``bridge0``), which are also ``deploys/dom0.py``'s defaults, so both deploys
converge a host on the same state.  It is what a careful pyinfra user would
write from the chapter; it is *not* part of the product.

Where the Handbook's literal steps are not idempotent, and what this file does
about it (so that it runs green twice):

* ``echo 'vm.max_user_wired=-1' >> /etc/sysctl.conf`` appends a duplicate on
  every run: ``server.sysctl(persist=True)`` instead (it uses ``files.line``).
* ``sed -i '' -e 's/memorylocked=64K/memorylocked=unlimited/' /etc/login.conf``
  is idempotent (no match the second time), but ``cap_mkdb /etc/login.conf``
  would rebuild the database on every run: ``files.replace`` and ``cap_mkdb``
  only when the replace changed something (``_if``).
* Adding the ``xc0`` line to ``/etc/ttys`` by hand (or ``>>``) duplicates it:
  ``files.line`` (a no-op on FreeBSD 14, whose stock ttys already has xc0).
* ``sysrc -f /boot/loader.conf xen_kernel=... xen_cmdline=...``: pyinfra's
  ``freebsd.sysrc`` has no ``-f``, so these are ``server.shell``: the file ends
  up the same, but the command runs and pyinfra reports "changed" on every run,
  and it cannot tell whether the Xen command line really changed.
* ``mkdir -p /var/log/xen`` and ``chmod 644 /var/log/xen`` are idempotent but
  run on every run (``server.shell``).
* ``sysrc cloned_interfaces+=bridge0``: sysrc(8)'s ``+=`` only adds a missing
  word, but pyinfra's ``freebsd.sysrc(command="add")`` runs it on every run,
  and the simulated host's sysrc does not implement ``+=`` at all (it refuses
  the name ``cloned_interfaces+``): ``command="set"`` instead, which does
  nothing when the variable is already set.
* ``sysrc ifconfig_em0=up``: the stock rc.conf already has
  ``ifconfig_em0="DHCP"``, so ``freebsd.sysrc``'s default ("set, unless already
  set") would silently keep DHCP: ``overwrite=True``, which runs on every run.
* The Handbook reboots once.  Rebooting on every run is not "converged", so the
  reboot only happens when a package, loader/sysctl/login/rc.conf change that
  pyinfra can detect happened.  Consequence: changing only the Xen command line
  later would NOT reboot (the loader.conf step always reports "changed", so it
  cannot be part of the condition without rebooting on every run).
* ``xl list`` runs on every run (it is the check).
* A fresh FreeBSD has no pkg, only the bootstrapper, which without a tty does
  nothing unless ``ASSUME_ALWAYS_YES`` is set (``pkg install -y`` is not enough):
  ``env ASSUME_ALWAYS_YES=yes pkg bootstrap`` first, on every run (it says
  "already bootstrapped" afterwards, but pyinfra counts the command as a change).
"""

from pyinfra.operations import files, server
from pyinfra.operations.freebsd import pkg, sysrc
from pyinfra.operations.util import any_changed

XEN_KERNEL = "/boot/xen"
XEN_CMDLINE = "dom0_mem=8192M dom0_max_vcpus=4 dom0=pvh console=com1,vga com1=115200,8n1 guest_loglvl=all loglvl=all"
BRIDGE_MEMBER = "em0"

server.shell(name="pkg bootstrap", commands=["env ASSUME_ALWAYS_YES=yes pkg bootstrap"])

packages = [pkg.install(name=f"pkg install {p}", package=p) for p in ("xen-kernel", "xen-tools")]

wired = server.sysctl(name="sysctl vm.max_user_wired=-1 (+ sysctl.conf)", key="vm.max_user_wired", value=-1, persist=True)

login = files.replace(
    name="login.conf: memorylocked=unlimited",
    path="/etc/login.conf",
    text="memorylocked=64K",
    replace="memorylocked=unlimited",
)
server.shell(name="cap_mkdb /etc/login.conf", commands=["cap_mkdb /etc/login.conf"], _if=login.did_change)

ttys = files.line(
    name="xc0 in /etc/ttys",
    path="/etc/ttys",
    line=r"^xc0\s",
    replace='xc0\t"/usr/libexec/getty Pc"\t\txterm\tonifconsole secure',
)

server.shell(
    name="sysrc -f /boot/loader.conf xen_kernel, xen_cmdline",
    commands=[
        f'sysrc -f /boot/loader.conf xen_kernel="{XEN_KERNEL}"',
        f'sysrc -f /boot/loader.conf xen_cmdline="{XEN_CMDLINE}"',
    ],
)

server.shell(name="mkdir /var/log/xen", commands=["mkdir -p /var/log/xen", "chmod 644 /var/log/xen"])

rc = [
    sysrc.sysrc(name="sysrc xencommons_enable=YES", parameter="xencommons_enable", value="YES"),
    sysrc.sysrc(name="sysrc cloned_interfaces=bridge0", parameter="cloned_interfaces", value="bridge0"),
    sysrc.sysrc(name="sysrc ifconfig_bridge0", parameter="ifconfig_bridge0", value=f"addm {BRIDGE_MEMBER} SYNCDHCP"),
]
sysrc.sysrc(name=f"sysrc ifconfig_{BRIDGE_MEMBER}=up", parameter=f"ifconfig_{BRIDGE_MEMBER}", value="up", overwrite=True)

server.reboot(name="reboot", delay=2, _if=any_changed(*packages, wired, login, ttys, *rc))

server.shell(name="xl list", commands=["xl list"])
