"""
Quoting at the boundary: every word a command carries from host data or from a
host's output is quoted where the command is built.

pyinfra's ``StringCommand(*bits)`` quotes only ``QuoteString`` bits, so a
plain ``StringCommand("zfs", "destroy", disk.zvol)`` hands ``disk.zvol`` to
the remote shell as syntax. These tests read the operations' source: any
``StringCommand`` call must be a single constant or f-string built with
``shlex.quote``/``shell_words`` (checked by its own unit tests), or use only
constant words; everything else goes through ``operations.commands.argv``.
"""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

import pytest

from operations.commands import argv, shell_words

OPERATIONS = Path(__file__).resolve().parents[2] / "operations"


def unquoted_string_commands(source: str) -> list[int]:
    """Lines where StringCommand gets more than one bit and one of them is not a constant."""

    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "StringCommand"):
            continue
        if len(node.args) > 1 and not all(isinstance(arg, ast.Constant) for arg in node.args):
            lines.append(node.lineno)
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            lines.append(node.lineno)
    return lines


# commands.py is where words are quoted: its own tests are below.
@pytest.mark.parametrize("module", sorted(set(OPERATIONS.glob("*.py")) - {OPERATIONS / "commands.py"}), ids=lambda p: p.name)
def test_no_operation_hands_an_unquoted_word_to_the_shell(module):
    assert unquoted_string_commands(module.read_text()) == [], (
        f"{module.name}: build these commands with operations.commands.argv (every word quoted)"
    )


def test_the_check_itself_catches_an_unquoted_word():
    assert unquoted_string_commands('StringCommand("zfs", "destroy", disk.zvol)') == [1]
    assert unquoted_string_commands('StringCommand(*words)') == [1]
    assert unquoted_string_commands('StringCommand("xl", "list")') == []


@pytest.mark.parametrize("word", ["plain", "two words", "; reboot", "$(id)", "`id`", "a'b", 'a"b', "-rf", "x\ny", ""])
def test_every_word_reaches_the_program_as_one_argument(word):
    assert shlex.split(argv("prog", word).get_raw_value()) == ["prog", word]
    assert shlex.split(shell_words("prog", word)) == ["prog", word]
