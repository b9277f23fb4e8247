"""
Composite reads: many small shell commands run as one remote command, their
outputs told apart by marker lines. One SSH round trip instead of dozens.

    >>> command = composite_command({"ttys": "cat /etc/ttys", "ifaces": "ifconfig -l"})
    >>> split_sections(["@@@ begin ttys", "ttyv0 ...", "@@@ end 0", "@@@ begin ifaces", "em0 lo0", "@@@ end 0"])
    {'ttys': Section(text='ttyv0 ...', rc=0), 'ifaces': Section(text='em0 lo0', rc=0)}
"""

from __future__ import annotations

from dataclasses import dataclass

BEGIN = "@@@ begin "
END = "@@@ end "


@dataclass(frozen=True)
class Section:
    text: str
    rc: int

    @property
    def ok(self) -> bool:
        return self.rc == 0


def composite_command(commands: dict[str, str]) -> str:
    """
    One shell command that runs each command in turn, even when one fails, with
    its stderr folded into its own section (so a failing ``xl`` explains itself).
    """

    parts = []
    for name, command in commands.items():
        parts.append(f"echo '{BEGIN}{name}'; {{ {command} ; }} </dev/null 2>&1; echo \"{END}$?\"")
    return "; ".join(parts)


def split_sections(lines: list[str]) -> dict[str, Section]:
    sections: dict[str, Section] = {}
    name: str | None = None
    body: list[str] = []
    for line in lines:
        if line.startswith(BEGIN):
            name, body = line[len(BEGIN):].strip(), []
        elif line.startswith(END) and name is not None:
            rc_text = line[len(END):].strip()
            sections[name] = Section("\n".join(body), int(rc_text) if rc_text.isdigit() else 1)
            name = None
        elif name is not None:
            body.append(line)
    return sections
