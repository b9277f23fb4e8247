"""Run Python that needs ``pyinfra_cli`` in a child process.

``import pyinfra_cli`` calls gevent's ``monkey.patch_all()``: done inside the pytest
process it would turn the simulator's threads into greenlets for every later test (see
tests/conftest.py).  The child prints JSON; the parent gets it back decoded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str):
    """Run `code` (which prints one JSON document) with the repository as cwd and on
    sys.path; return the decoded document, or fail with the child's stderr."""
    proc = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + textwrap.dedent(code)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    if proc.returncode != 0:
        raise AssertionError(f"child python failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)
