"""One code scheme: every code the package can report is registered, documented and of one shape."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from policy_engine.cli.main import main
from policy_engine.codes import CODES, markdown

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "policy_engine"
#: A quoted code literal in the sources: ``"E401"``, and the retired mnemonic shape ``"E-YAML"``.
_CODE = re.compile(r"""["']([EW]\d{3})["']""")
_MNEMONIC = re.compile(r"""["']([EW]-[A-Z][A-Z-]*)["']""")


def _sources() -> dict[str, str]:
    return {str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in sorted(PACKAGE.rglob("*.py"))
            if p.name != "codes.py"}


def test_every_code_in_the_sources_is_registered() -> None:
    unregistered = sorted({f"{file}: {code}" for file, text in _sources().items()
                           for code in _CODE.findall(text) if code not in CODES})
    assert not unregistered, ("register these in policy_engine/codes.py, then run "
                              f"`python -m policy_engine.codes > docs/errors.md`: {unregistered}")


def test_no_code_of_another_scheme() -> None:
    mnemonic = sorted({f"{file}: {code}" for file, text in _sources().items() for code in _MNEMONIC.findall(text)})
    assert not mnemonic, f"codes are a letter and three digits (policy_engine/codes.py): {mnemonic}"


def test_every_registered_code_is_used() -> None:
    used = {code for text in _sources().values() for code in _CODE.findall(text)}
    assert sorted(set(CODES) - used) == [], "a registered code nothing reports: remove it or report it"


def test_docs_list_the_registry() -> None:
    page = (REPO / "docs" / "errors.md").read_text(encoding="utf-8")
    assert page == markdown(), "docs/errors.md is stale: run `python -m policy_engine.codes > docs/errors.md`"
    for code in CODES.values():
        assert (REPO / "docs" / code.doc).is_file(), code


def test_a_missing_path_is_one_code_in_every_command(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    for argv in (["check", missing], ["validate", missing], ["fmt", "--check", missing], ["test", missing]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as out:
            code = main(argv)
        assert code == 2, (argv, code)
        assert "E401" in err.getvalue() + out.getvalue(), (argv, err.getvalue(), out.getvalue())
