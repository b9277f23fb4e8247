"""
Running the real pyinfra CLI against simulated hosts, the way users do, and
reading its results table.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
ROW = re.compile(r"^\s{4}(?P<name>\S.*?)\s{2,}(?P<hosts>\d+)\s+(?P<success>\d+|-)\s+(?P<error>\d+|-)\s+(?P<nochange>\d+|-)\s*$")


@dataclass
class Run:
    returncode: int
    output: str

    def results(self) -> dict[str, tuple[int, int, int]]:
        """Operation name -> (changed, errors, unchanged) from pyinfra's results table."""

        table = {}
        for line in self.output.split("--> Results:")[-1].splitlines():
            match = ROW.match(line)
            if match and match.group("name") != "Operation":
                number = lambda key: 0 if match.group(key) == "-" else int(match.group(key))  # noqa: E731
                table[match.group("name").strip()] = (number("success"), number("error"), number("nochange"))
        return table

    def changed_operations(self) -> dict[str, int]:
        """Operation name -> number of hosts it changed."""

        return {name: changed for name, (changed, _, _) in self.results().items() if changed and name != "Grand total"}


def pyinfra(inventory: Path, deploy: str, *args: str, timeout: int = 600) -> Run:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200")
    done = subprocess.run(
        [PYINFRA, "-y", *args, str(inventory), deploy],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    return Run(done.returncode, done.stdout + done.stderr)


def dry_run_changes(inventory: Path, deploy: str) -> dict[str, int]:
    """Operation name -> number of hosts that ``--dry`` says it will change."""

    env = dict(os.environ, COLUMNS="200")
    done = subprocess.run(
        [PYINFRA, "--dry", str(inventory), deploy],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        # Answer "continue?" (asked when a host fails pre-flight) as a user would.
        input="\n" * 10,
    )
    output = done.stdout + done.stderr
    changes = {}
    for line in output.split("--> Detected changes:")[-1].splitlines():
        match = re.match(r"^\s{4}(?P<name>\S.*?)\s{2,}(?P<change>\d+) \(", line)
        if match:
            changes[match.group("name").strip()] = int(match.group("change"))
    return changes


ANSI = re.compile(r"\x1b\[[0-9;]*m")
PLAN_LINE = re.compile(r"^\s*\[(?P<host>[^\]]+)\]\s+plan: (?P<change>.*)$")


def plan_lines(output: str) -> list[tuple[str, str]]:
    """(host, change) for every ``[host] plan: change`` line (operations/steps.py:plan)."""

    lines = ANSI.sub("", output).splitlines()
    return [(m["host"], m["change"]) for m in map(PLAN_LINE.match, lines) if m]


def dry_run(inventory: Path, deploy: str, *args: str, answer: str | None = None) -> Run:
    """``pyinfra --dry``: what pyinfra and our operations say would change, nothing done."""

    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200")
    done = subprocess.run(
        [PYINFRA, "--dry", *args, str(inventory), deploy], cwd=ROOT, capture_output=True, text=True,
        timeout=600, env=env, input=answer,
    )
    return Run(done.returncode, ANSI.sub("", done.stdout + done.stderr))
