"""Named behaviours of the official scoring code that change numbers, and the `--quirk NAME=on|off` switches.

Each peer scorer reproduces one reference implementation (docs/scorers.md says which), including its quirks, so
that `crpo score` prints the number that code prints. Where a quirk is a bug, or where a second widely used
implementation (lmms-eval) behaves differently, a switch selects the other behaviour. Defaults are the reference's
behaviour; the scorers report the switches they ran with under "quirks", so a number always says how it was made.
"""
from __future__ import annotations

from dataclasses import dataclass

from crpo.data.items import DataError


@dataclass(frozen=True)
class Quirk:
    default: bool
    what: str


QUIRKS: dict[str, dict[str, Quirk]] = {
    "mvbench": {
        "empty_excluded": Quirk(True, "lmms-eval's mvbench_aggregate_results leaves outputs that are empty after its "
                                      "strip (and missing rows) out of the denominator; off: they count wrong"),
    },
    "tvbench": {
        "index_target": Quirk(False, "lmms-eval's tvbench_doc_to_target reads an answer that is a number as an option "
                                     "index (a wrong gold letter on count tasks); on: reproduce lmms-eval's number"),
    },
    "tempcompass": {
        "missing_excluded": Quirk(True, "the official eval scripts iterate the predictions, so a question without one "
                                        "is left out of the denominator; off: it counts wrong"),
        "lmms_eval_eos": Quirk(False, "lmms-eval's task does not remove '</s>' before matching as the official "
                                      "scripts do; on: reproduce lmms-eval's number"),
    },
    "vinoground": {
        "empty_text_drops_pair": Quirk(True, "the official get_score_all.py wraps a pair in a bare try/except: an "
                                             "empty or missing text answer that it reads skips the rest of that "
                                             "pair, so its video questions count wrong too; off: only that answer "
                                             "counts wrong"),
        "lmms_eval_strip": Quirk(False, "lmms-eval strips outputs before reading their first character, the "
                                        "official script does not; on: reproduce lmms-eval's number"),
    },
    "timeblind": {},
    "dybench": {},
    "mvp": {},
    "vitatecs": {},
}


def resolve_quirks(fmt: str, given=None) -> dict[str, bool]:
    """{quirk: on} for `fmt`: the defaults, updated by `given` ({name: bool} or ["name=on", "name=off", ...])."""
    if fmt not in QUIRKS:
        raise DataError(f"unknown benchmark format '{fmt}' (expected {', '.join(QUIRKS)})")
    table = QUIRKS[fmt]
    out = {name: q.default for name, q in table.items()}
    if not given:
        return out
    pairs = given.items() if isinstance(given, dict) else [_parse(text) for text in given]
    for name, value in pairs:
        name = name.removeprefix(f"{fmt}.")  # "vinoground.lmms_eval_strip" as --help lists it, or the bare name
        if name not in table:
            known = ", ".join(table) or "none"
            raise DataError(f"--quirk {name}: not a quirk of the {fmt} scorer (its quirks: {known})")
        out[name] = bool(value)
    return out


def _parse(text: str) -> tuple[str, bool]:
    name, sep, value = str(text).partition("=")
    if not sep or value.lower() not in ("on", "off"):
        raise DataError(f"--quirk {text}: expected NAME=on or NAME=off")
    return name.strip(), value.lower() == "on"


def describe(fmt: str | None = None) -> str:
    """One line per quirk ("format.name (default on|off): what"), for --help and the docs."""
    lines = []
    for f, table in QUIRKS.items():
        if fmt in (None, f):
            lines += [f"{f}.{name} (default {'on' if q.default else 'off'}): {q.what}" for name, q in table.items()]
    return "\n".join(lines)
