"""
Breaks od(1) on xen1 in the middle of a run, after deploys/dom0.py has read it
at prepare time: its next read, at execute time, cannot be parsed
(tests/e2e/test_safety_files.py).
"""

from pyinfra import host
from pyinfra.operations import server

if host.name == "xen1":
    server.shell(
        name="od breaks on xen1",
        commands=["rm -f /bin/od /usr/bin/od && printf '#!/bin/sh\\necho zz\\n' > /bin/od && chmod 755 /bin/od"],
    )
