"""The benchmark harness: counting SSH requests in sshd logs, reading pyinfra's
output, and (e2e, as root) the Handbook baseline converging on a simulated host.
No timing assertions: wall times depend on the machine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from benchmarks import __main__ as bench
from benchmarks.sshdlog import LogCursor, Requests, count_requests

REPO = Path(__file__).resolve().parents[2]

# OpenSSH 9.2 sshd -e at LogLevel VERBOSE: one connection, three commands, one SFTP session.
SSHD_LOG = """\
Server listening on 127.0.0.1 port 57121.
Connection from 127.0.0.1 port 54816 on 127.0.0.1 port 57121 rdomain ""
kex_exchange_identification: read: Connection reset by peer
Connection from 127.0.0.1 port 54822 on 127.0.0.1 port 57121 rdomain ""
Accepted key ED25519 SHA256:UFp+krQZ found at /var/lib/x/authorized_keys:1
Accepted publickey for root from 127.0.0.1 port 54822 ssh2: ED25519 SHA256:UFp+krQZ
Starting session: command for root from 127.0.0.1 port 54822 id 0
Close session: user root from 127.0.0.1 port 54822 id 0
Starting session: command for root from 127.0.0.1 port 54822 id 0
Close session: user root from 127.0.0.1 port 54822 id 0
Starting session: subsystem 'sftp' for root from 127.0.0.1 port 54822 id 0
Starting session: command for root from 127.0.0.1 port 54822 id 1
Close session: user root from 127.0.0.1 port 54822 id 1
Transferred: sent 3008, received 2024 bytes
Closing connection to 127.0.0.1 port 54822
"""


def test_count_requests_counts_exec_sftp_and_connections():
    assert count_requests(SSHD_LOG) == Requests(exec=3, sftp=1, other=0, connections=1)
    assert count_requests(SSHD_LOG).total == 4


def test_count_requests_other_sessions_and_empty_log():
    assert count_requests("") == Requests()
    log = "Starting session: shell on pts/0 for root from 127.0.0.1 port 1 id 0\n"
    assert count_requests(log) == Requests(other=1)


def test_requests_add():
    assert Requests(1, 2, 3, 4) + Requests(10, 20, 30, 40) == Requests(11, 22, 33, 44)


def test_log_cursor_reads_only_what_was_appended(tmp_path):
    log = tmp_path / "sshd.log"
    log.write_text("old line\n")
    cursor = LogCursor(log)
    with open(log, "a") as f:
        f.write(SSHD_LOG)
    assert cursor.read_new() == SSHD_LOG
    assert cursor.read_new() == ""


def test_log_cursor_on_a_log_not_written_yet(tmp_path):
    log = tmp_path / "sshd.log"
    cursor = LogCursor(log)
    log.write_text("Starting session: command for root from 127.0.0.1 port 1 id 0\n")
    assert count_requests(cursor.read_new()).exec == 1


PYINFRA_RESULTS = """\
--> Results:
    Operation                                            Hosts   Success   Error   No Change
    pkg install xen-kernel                               1       1         -       -
    Grand total                                          14      13        -       1
"""


def test_changed_ops_reads_the_grand_total_success_column():
    assert bench.changed_ops(PYINFRA_RESULTS) == 13
    assert bench.changed_ops(PYINFRA_RESULTS.replace("14      13", "14      -")) == 0
    assert bench.changed_ops("pyinfra error: No hosts remaining!") is None


def test_failure_reason_names_the_operation_and_the_host_message():
    output = """\
--> Starting operation: bench1: disks
    [xen1] Changed root directory to "/var/lib/freebsd-xen-sim/x/root"
    [xen1] sh: 1: zfs: not found
    [xen1] Error: executed 0 commands

--> pyinfra error: No hosts remaining!
"""
    assert bench.failure_reason(output) == "bench1: disks: sh: 1: zfs: not found"
    assert bench.failure_reason("--> pyinfra error: boom\n") == "--> pyinfra error: boom"


def test_parse_counts():
    assert bench.parse_counts("1,10,50") == [1, 10, 50]
    assert bench.parse_counts("none") == []
    with pytest.raises(Exception):
        bench.parse_counts("1,-2")


def test_run_stat_shows_a_range_when_hosts_differ():
    run = bench.Run(2, bench.OURS, "first", True, 1.0, {"a": Requests(exec=3), "b": Requests(exec=5)})
    assert run.stat("exec") == "4.0 (3-5)"
    same = bench.Run(2, bench.OURS, "first", True, 1.0, {"a": Requests(exec=3), "b": Requests(exec=3)})
    assert same.stat("exec") == "3"


def test_report_has_the_converged_ratio():
    runs = [
        bench.Run(1, bench.OURS, "converged", True, 1.0, {"x": Requests(exec=1)}, 0),
        bench.Run(1, bench.BASELINE, "converged", True, 2.0, {"x": Requests(exec=15)}, 4),
    ]
    text = bench.report_dom0(runs)
    assert "1/15 = 0.07" in text
    assert "1.0/2.0 = 0.50" in text
    assert "wall time above floor" in text and "n/a" in text  # no floor measured


def test_report_has_the_ratio_above_the_floor():
    runs = [
        bench.Run(1, bench.OURS, "converged", True, 0.7, {"x": Requests(exec=1)}, 0),
        bench.Run(1, bench.BASELINE, "converged", True, 1.4, {"x": Requests(exec=15)}, 4),
        bench.Run(1, bench.FLOOR, "converged", True, 0.6, {"x": Requests(exec=1)}, 1),
    ]
    assert "0.10/0.80 = 0.12" in bench.report_dom0(runs)
    assert bench.above_floor(0.55, 1.4, 0.6) == "0.00/0.80 = 0.00"  # noise below the floor
    assert bench.above_floor(0.6, 0.6, 0.6) == "0.00/0.00 = n/a"


def test_guest_rows_report_na_instead_of_crashing():
    text = bench.report_guests(["10 guests: n/a (first run failed: zfs: not found)"])
    assert "n/a (first run failed: zfs: not found)" in text


def test_handbook_baseline_uses_only_pyinfra_builtin_operations():
    tree = ast.parse((REPO / bench.BASELINE).read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert modules and all(m.startswith("pyinfra.") for m in modules), modules


@pytest.mark.e2e
def test_handbook_baseline_runs_green_twice_and_converges(tmp_path):
    from tests.conftest import _simhost_unavailable

    reason = _simhost_unavailable()
    if reason:
        pytest.skip(reason)
    fleet = bench.BenchFleet("test", 1, tmp_path)
    try:
        inventory = fleet.inventory(bench.DOM0_DATA)
        first = fleet.run(inventory, bench.BASELINE, 1, "first")
        assert first.ok, first.error
        assert fleet.fleet.hosts["xen1"].sim_state()["boot_count"] == 2  # rebooted once
        second = fleet.run(inventory, bench.BASELINE, 1, "converged")
        assert second.ok, second.error
        assert fleet.fleet.hosts["xen1"].sim_state()["boot_count"] == 2  # no reboot
        # Every request counted at the server; the converged run has no uploads.
        assert second.per_host["xen1"].exec > 0
        assert second.per_host["xen1"].sftp == 0
        assert second.per_host["xen1"].connections == 1
    finally:
        fleet.stop()


def test_a_failed_run_is_a_row_with_a_numbered_note():
    runs = [bench.Run(2, bench.OURS, "first", False, 9.0, {"xen1": Requests(exec=22), "xen2": Requests(exec=24)},
                      7, error="Reboot into Xen and verify: boom", failed_hosts=["xen2"])]
    text = bench.report_dom0(runs)
    assert "FAILED 1/2 [1]" in text
    assert "[1] 2 hosts, ours, first run: failed on xen2; last message: Reboot into Xen and verify: boom" in text


# -- the delaying relay (benchmarks/latency.py) -------------------------------------------------

def echo_server():
    """A TCP server on loopback that echoes until the client half-closes, then closes."""

    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()


def test_relay_delays_each_round_trip_and_keeps_the_bytes_in_order():
    import socket
    import time

    from benchmarks.latency import DelayedLinks

    listener, target = echo_server()
    payload = bytes(range(256)) * 4096  # 1 MiB
    with DelayedLinks(rtt_ms=80) as links, listener:
        port = links.add(target)
        with socket.create_connection(("127.0.0.1", port)) as client:
            start = time.monotonic()
            client.sendall(b"ping")
            assert client.recv(4) == b"ping"
            round_trip = time.monotonic() - start
            client.sendall(payload)
            client.shutdown(socket.SHUT_WR)  # the half-close travels too: the server then closes
            received = bytearray()
            while chunk := client.recv(65536):
                received += chunk
    assert round_trip >= 0.08  # never faster than the link; no upper bound: machines differ
    assert bytes(received) == payload


def test_relay_to_a_closed_port_closes_the_connection():
    import socket

    from benchmarks.latency import DelayedLinks

    unused = socket.create_server(("127.0.0.1", 0))
    target = unused.getsockname()
    unused.close()
    with DelayedLinks(rtt_ms=10) as links:
        with socket.create_connection(("127.0.0.1", links.add(target))) as client:
            client.settimeout(5)
            assert client.recv(1) == b""
