"""The registry of diagnostic codes: one scheme for every problem any command reports.

A code is a letter and three digits. The letter is the level (``E`` error, ``W`` warning); the hundreds
digit is the area, so a code says where to look before the message is read. Codes are stable: tools
match on them, and a code is never reused for another meaning. ``docs/errors.md`` is this table
(``python -m policy_engine.codes > docs/errors.md`` writes it; a test keeps the two equal), and every code
used in the package must be registered here (a test scans the sources for code literals).

    0xx  policy syntax                  5xx  ``validate``'s lints of policies
    1xx  unknown names                  6xx  manifests: YAML/JSON documents
    2xx  types                          7xx  the workload model: fields it cannot read
    3xx  policy structure               8xx  pricing catalogs
    4xx  reading files, imports         9xx  other inputs: webhook config, policy tests, explain

A missing or unreadable path is ``E401`` whichever command reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

AREAS: dict[str, str] = {
    "0": "policy syntax",
    "1": "unknown names",
    "2": "types",
    "3": "policy structure",
    "4": "reading files",
    "5": "policy lints (validate)",
    "6": "manifests",
    "7": "workload model",
    "8": "pricing catalogs",
    "9": "other inputs",
}


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    summary: str
    doc: str  # the page that explains it, relative to docs/

    @property
    def area(self) -> str:
        return AREAS[self.code[1]]

    @property
    def is_warning(self) -> bool:
        return self.code.startswith("W")


_LANG = "language.md"
_CHECK = "check.md"
_COST = "cost-model.md"

CODES: dict[str, Code] = {c.code: c for c in (
    Code("E001", "syntax: unexpected token (the hint says what was expected)", _LANG),
    Code("E002", "syntax: unexpected character, or an unterminated string", _LANG),
    Code("E003", "syntax: unexpected end of file (names the `{` left open)", _LANG),
    Code("E101", "unknown attribute or parameter", _LANG),
    Code("W101", "a policy without rules", _LANG),
    Code("E102", "unknown function", _LANG),
    Code("E103", "unknown kind", _LANG),
    Code("E104", "unknown unit: a duration unit or a quota/budget period", _LANG),
    Code("E105", "unknown value of a setting, a quota metric or a live metric", _LANG),
    Code("E106", "unknown placeholder (or bad braces) in a message", _LANG),
    Code("E107", "an import overrides a parameter the imported file does not declare", _LANG),
    Code("E201", "type mismatch", _LANG),
    Code("E202", "wrong arguments to a function", _LANG),
    Code("E203", "a condition that is not a boolean", _LANG),
    Code("E204", "a value that must be a constant reads the workload", _LANG),
    Code("E205", "invalid regular expression", _LANG),
    Code("E206", "invalid CEL expression", _LANG),
    Code("E207", "unknown field of a container, of its requests/limits or of a built-in kind's object", _LANG),
    Code("E301", "duplicate policy name (across every file compiled together)", _LANG),
    Code("W301", "an `assert`/`forbid` whose condition is constant", _LANG),
    Code("E302", "a setting, parameter or override given twice", _LANG),
    Code("E303", "an empty list where one value at least is needed (allowlists, kinds, required keys)", _LANG),
    Code("E304", "a quota or budget without a grouping key", _LANG),
    Code("E305", "a quota or budget without a period", _LANG),
    Code("E306", "a quota or budget without any limit", _LANG),
    Code("E307", "unreachable: a `when` or `if` that is always false", _LANG),
    Code("E308", "a parameter named like an attribute, or a quantifier variable hiding a name in scope", _LANG),
    Code("E309", "a quota or budget with an `if` guard", _LANG),
    Code("E310", "an expression nested more than 100 levels deep (`not`s, operators, quantifiers, lists, "
         "calls; parentheses are no level)", _LANG),
    Code("E311", "a policy set with no policy (an empty directory, only other files, every file empty)", _LANG),
    Code("E401", "a path that does not exist or a file that cannot be read (any command, any file)", _CHECK),
    Code("E402", "an import cycle", _LANG),
    Code("E403", "a binary file (NUL bytes) where text was expected", _CHECK),
    Code("E404", "a file that is not UTF-8 text", _CHECK),
    Code("E405", "not a regular file (a FIFO, a device, a socket): not read", _CHECK),
    Code("E406", "a file (or stdin) larger than `--max-file-size`: not read", _CHECK),
    Code("E407", "a symbolic link out of the scanned directory: not followed (`--follow-symlinks`)", _CHECK),
    Code("W501", "an `exclude` block covers everything the `match` selects", "testing.md"),
    Code("W502", "a label or annotation key Kubernetes would reject", "testing.md"),
    Code("W503", "a label value Kubernetes would reject", "testing.md"),
    Code("W504", "contradictory label requirements in one `match` block", "testing.md"),
    Code("W505", "an allowlist or denylist entry that matches nothing in the pricing catalog", "testing.md"),
    Code("E601", "invalid YAML (at the line and column of the problem)", _CHECK),
    Code("E602", "invalid JSON (at the line and column of the problem)", _CHECK),
    Code("E603", "a document that is not a mapping (a string, a list, a number…)", _CHECK),
    Code("E604", "a mapping without `kind`: not a Kubernetes object", _CHECK),
    Code("E605", "a document that expands to more than 1,000,000 nodes through YAML aliases", _CHECK),
    Code("E606", "YAML or JSON nested more than 10,000 levels deep (the API server's limit)", _CHECK),
    Code("E607", "the same key twice in one mapping of a manifest (kubectl refuses the file)", _CHECK),
    Code("W601", "an empty manifest file: no document in it", _CHECK),
    Code("W602", "a file skipped: hidden, or not a Kubernetes manifest (Chart.yaml, values*.yaml, "
                 "kustomization.yaml, CI configs)", _CHECK),
    Code("E701", "a field of the wrong shape (a mapping or a list expected)", _CHECK),
    Code("E702", "a field that must be an integer (or is below its minimum)", _CHECK),
    Code("E703", "a field that must be a (non-negative) number", _CHECK),
    Code("E704", "a resource quantity that does not parse (`500m`, `1.5Gi`)", _CHECK),
    Code("E705", "a duration that does not parse (`6h`, `90m`)", _CHECK),
    Code("E706", "a missing or invalid cron schedule", _CHECK),
    Code("E707", "an unknown IANA time zone", _CHECK),
    Code("E708", "a workload without its pod template", _CHECK),
    Code("E709", "an unrendered template placeholder (`{{ .Values.x }}`) where a value is needed", _CHECK),
    Code("E801", "a pricing file that is not YAML", _COST),
    Code("E802", "a pricing file that is not a mapping", _COST),
    Code("E803", "an unknown key in a pricing file (the hint names the closest known key)", _COST),
    Code("E804", "a required field of a pricing entry is missing", _COST),
    Code("E805", "a wrong type or an out-of-range value in a pricing file", _COST),
    Code("E806", "the same key twice in one mapping of a pricing file", _COST),
    Code("W807", "a spot price above the on-demand price (priced as written)", _COST),
    Code("W808", "a `gpu_model` with no `gpu_models` entry (the per-model fallback is missing)", _COST),
    Code("E809", "`prices import`: a provider's file not in the format its option names", _COST),
    Code("E810", "`prices import`: the catalog it would write does not load (a bug: please report it)", _COST),
    Code("E901", "an invalid webhook config file", "webhook.md"),
    Code("E902", "an invalid policy test file or test case", "testing.md"),
    Code("E903", "`explain`: no policy of that name", _LANG),
    Code("E904", "`check --base`: not inside a git repository, git missing, or an unknown revision", _CHECK),
    Code("E905", "an invalid controller settings file", "controller.md"),
)}


def describe(code: str) -> Code | None:
    """The registered meaning of ``code`` (None for an unknown code)."""
    return CODES.get(code)


def markdown() -> str:
    """``docs/errors.md``: the areas, then every code in order."""
    out = [
        "# Diagnostic codes", "",
        "Every problem a command reports (`check`, `validate`, `fmt`, `test`, `explain`, `cost`, `serve` and the",
        "webhook's reloads) is a located diagnostic, `file:line:col: error[CODE]: message`, whose code comes",
        "from one scheme: a letter for the level (`E` error, `W` warning) and three digits, the first naming",
        "the area. Codes are stable and never reused for another meaning. The registry is",
        "`policy_engine/codes.py`; this page is generated from it (`python -m policy_engine.codes`).",
        "", "| codes | area |", "| --- | --- |",
    ]
    out += [f"| `{digit}xx` | {name} |" for digit, name in AREAS.items()]
    out += ["", "| code | level | meaning | details |", "| --- | --- | --- | --- |"]
    for c in sorted(CODES.values(), key=lambda c: (c.code[1:], c.code[0])):
        level = "warning" if c.is_warning else "error"
        out.append(f"| `{c.code}` | {level} | {c.summary} | [{c.doc}]({c.doc}) |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
