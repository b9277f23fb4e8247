"""
The differential report: the scenario's steps on the real Xen against the
same steps on simhost, after normalising only what must differ.

What must differ, and nothing else, is normalised:
  * domain ids (the ID column, "Domain N:" / "domid N" in messages),
  * times (the Time(s) column),
  * uuids,
  * the Dom0 itself: its memory, vCPUs and the machine's figures in ``xl info``
    (a QEMU VM with 1.5 GiB against a simulated 16 GiB server): for
    Domain-0 and ``xl info`` only the shape the parsers read is compared
    (which keys, which types),
  * libxl's source positions "file.c:LINE:" (they move between Xen releases:
    the real one is 4.17.7, simhost's xen-tools is 4.19.1),
  * whether a live guest is running (r) or blocked (b) at the instant of
    ``xl list`` (or neither, between the two): the scheduler's, not xl's; the
    other four state letters (paused, shutdown, crashed, dying) are compared.

Each remaining difference is either listed in explained.json (with the
reason: Debian's Linux Dom0 against FreeBSD's, say) or unexplained; the
report exits 1 when any is unexplained.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

EXPLAINED = Path(__file__).with_name("explained.json")

UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
SOURCE_POSITION = re.compile(r"\b([a-z_]+\.c):\d+:")
DOMID_WORDS = re.compile(r"\b(Domain|domain|domid|Domid|dom)( ?)(\d+)\b")
# A row of xl list: its ID, its State's first two letters and its Time(s).
# r (running on a CPU now) and b (blocked, waiting for an event) are where the
# scheduler found the guest at the instant xl asked, not anything xl did: a
# guest just resumed after a cut migration was caught 'r' on the real Xen and
# '-b' on simhost. The other letters (paused, shutdown, crashed, dying) are
# xl's doing and stay, as normalise_domains keeps them.
LIST_ROW = re.compile(r"^(\S.*?)\s+\d+(\s+\d+\s+\d+\s+)[-r][-b]([-a-z]{4})\s+\d+\.\d$", re.MULTILINE)


def normalise_text(text: str) -> str:
    text = LIST_ROW.sub(r"\1 <id>\2~~\3 <time>", text)
    text = UUID.sub("<uuid>", text)
    text = SOURCE_POSITION.sub(r"\1:<line>:", text)
    text = DOMID_WORDS.sub(r"\1\2<domid>", text)
    return text


def normalise_domains(domains: list[dict]) -> list[dict]:
    out = []
    for d in domains:
        if d["name"] == "Domain-0":
            out.append({"name": "Domain-0"})
        else:
            d = dict(d)
            d["state_flags"] = "~~" + d["state_flags"][2:]
            d["state"] = sorted(set(d["state"]) - {"running", "blocked"})
            out.append(d)
    return out


def normalise_parsed(step_id: str, parsed):
    if parsed is None:
        return None
    if step_id == "01-xl-info":
        return parsed  # key -> type name: the shape only
    if isinstance(parsed, dict) and "Domain-0" in parsed:
        parsed = dict(parsed)
        parsed["Domain-0"] = sorted(k for k, v in parsed["Domain-0"].items() if v not in (None, [], {}))
        return parsed
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict) and "state_flags" in parsed[0]:
        return normalise_domains(parsed)
    return parsed


# Steps whose stdout is a table or a document read by a parser: the parsed
# form is compared (the raw text carries the Dom0's own figures).
PARSED_ONLY = {"01-xl-info", "02-xl-list", "03-xl-list-l", "05-list-l-guest", "06-drift-after-create",
               "11c-list-settled", "12-list-l-after-sets", "26-list-end"}


def compare(real: list[dict], sim: list[dict]) -> list[dict]:
    sim_by_id = {step["id"]: step for step in sim}
    differences = []
    for r in real:
        s = sim_by_id.get(r["id"])
        if s is None:
            differences.append({"step": r["id"], "field": "missing", "real": "ran", "sim": "not run"})
            continue
        fields = {
            # Results saved from an earlier version of the scenario compare nothing.
            "command": (r["command"], s["command"]),
            "rc": (r["rc"], s["rc"]),
            "stderr": (normalise_text(r["stderr"]), normalise_text(s["stderr"])),
            "domains": (normalise_domains(r["domains"]), normalise_domains(s["domains"])),
            "parsed": (normalise_parsed(r["id"], r["parsed"]), normalise_parsed(s["id"], s["parsed"])),
        }
        if r["id"] not in PARSED_ONLY:
            fields["stdout"] = (normalise_text(r["stdout"]), normalise_text(s["stdout"]))
        for name, (real_value, sim_value) in fields.items():
            if real_value != sim_value:
                differences.append({"step": r["id"], "field": name, "real": real_value, "sim": sim_value,
                                    "command": r["command"]})
    return differences


def load_explained(path: Path = EXPLAINED) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def _without(value, patterns: list[str]):
    if not isinstance(value, str):
        return value
    return "\n".join(line for line in value.split("\n") if not any(re.search(p, line) for p in patterns))


def explanation(difference: dict, explained: list[dict]) -> str | None:
    """
    The reason an entry of explained.json gives for this difference. An
    entry explains only what it names: ``replace`` (regular expression ->
    replacement, applied to both sides) and ``ignore_lines`` (regular
    expressions of lines dropped from both sides); the rest must agree.
    """

    for entry in explained:
        if entry["step"] != difference["step"] or entry["field"] != difference["field"]:
            continue
        real, sim = (value if isinstance(value, str) else json.dumps(value, indent=1, sort_keys=True)
                     for value in (difference["real"], difference["sim"]))
        for pattern, replacement in entry.get("replace", {}).items():
            real, sim = re.sub(pattern, replacement, real), re.sub(pattern, replacement, sim)
        patterns = entry.get("ignore_lines", [])
        if _without(real, patterns) == _without(sim, patterns):
            return entry["reason"]
    return None


def _show(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=1, sort_keys=True)
    return "\n".join("      | " + line for line in (text.rstrip("\n").split("\n") if text else ["<empty>"]))


def report(real: list[dict], sim: list[dict], explained: list[dict] | None = None,
           migration: tuple[list[dict], list[dict]] | None = None) -> tuple[str, int]:
    """The printed report and the number of unexplained differences."""

    explained = load_explained() if explained is None else explained
    lines = []
    unexplained = 0
    differences = compare(real, sim)
    if migration is not None:
        differences += compare_migration(*migration)
        real = real + migration[0]
    for difference in differences:
        reason = explanation(difference, explained)
        tag = "EXPLAINED" if reason else "UNEXPLAINED"
        unexplained += reason is None
        lines.append(f"[{tag}] step {difference['step']}, {difference['field']}"
                     + (f"   ($ {difference['command']})" if difference.get("command") else ""))
        lines.append("    real xl:")
        lines.append(_show(difference["real"]))
        lines.append("    simhost xl:")
        lines.append(_show(difference["sim"]))
        if reason:
            lines.append(f"    why: {reason}")
    lines.append(f"{len(real)} steps compared, {len(differences)} differences, {unexplained} unexplained")
    return "\n".join(lines), unexplained


# xl migrate's stderr carries the sender's lines and the receiver's (through the
# transport's stderr) as they come: their interleaving is a race, so the lines
# are compared as a sorted list. Progress counters are not normalised: none is printed.
def migration_fields(r: dict, s: dict) -> dict:
    def lines(text: str) -> list[str]:
        return sorted(line for line in normalise_text(text).split("\n") if line)

    return {
        "command": (r["command"], s["command"]),
        "rc": (r["rc"], s["rc"]),
        "stdout": (normalise_text(r["stdout"]), normalise_text(s["stdout"])),
        "stderr": ("\n".join(lines(r["stderr"])), "\n".join(lines(s["stderr"]))),
        "names_seen": (r["names_seen"], s["names_seen"]),
        "after": (_no_flags(r["after"]), _no_flags(s["after"])),
    }


def _no_flags(after: dict) -> dict:
    return {host: [{"name": d["name"], "state": "~~" + d["state"][2:]} for d in domains]
            for host, domains in after.items()}


def compare_migration(real: list[dict], sim: list[dict]) -> list[dict]:
    sim_by_id = {step["id"]: step for step in sim}
    differences = []
    for r in real:
        s = sim_by_id.get(r["id"])
        if s is None:
            differences.append({"step": r["id"], "field": "missing", "real": "ran", "sim": "not run"})
            continue
        for name, (real_value, sim_value) in migration_fields(r, s).items():
            if real_value != sim_value:
                differences.append({"step": r["id"], "field": name, "real": real_value, "sim": sim_value,
                                    "command": r["command"]})
    return differences
