"""Where the pricing importers' fixture files are."""

from __future__ import annotations

from pathlib import Path

IMPORT_FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures" / "pricing" / "import"
