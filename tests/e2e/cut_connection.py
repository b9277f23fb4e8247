"""
The pyinfra CLI with each host's SSH connection cut after its Nth remote
request (a command or a file upload), N from the host's ``cut_after`` data.

    python tests/e2e/cut_connection.py -y inventory.py deploys/dom0.py

The host has carried out the request; its answer is lost with the connection,
as when a laptop's link drops mid-run. What pyinfra sends on that connection
afterwards fails as on a dead connection; a reconnection (the reboot wait
makes them) works, as it would once the link is back. The file named by the
environment variable ``CUT_COUNTS`` receives each host's number of requests
so far, so a test can learn how many cut points a run has.
"""

from __future__ import annotations

import json
import os
import sys

from pyinfra.connectors.ssh import SSHConnector

requests: dict[str, int] = {}


def cut_after_nth(method):
    def wrapper(self, *args, **kwargs):
        name = self.host.name
        result = method(self, *args, **kwargs)
        requests[name] = requests.get(name, 0) + 1
        if os.environ.get("CUT_COUNTS"):
            with open(os.environ["CUT_COUNTS"], "w") as out:
                json.dump(requests, out)
        if requests[name] == self.host.data.get("cut_after"):
            self.client.get_transport().close()  # dead, as after a cut: paramiko then says "SSH session not active"
            raise OSError("the connection was cut (test)")
        return result

    return wrapper


if __name__ == "__main__":
    SSHConnector.run_shell_command = cut_after_nth(SSHConnector.run_shell_command)
    SSHConnector.put_file = cut_after_nth(SSHConnector.put_file)

    from pyinfra_cli.main import main

    sys.argv[0] = "pyinfra"
    sys.exit(main())
