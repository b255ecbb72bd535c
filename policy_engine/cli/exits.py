"""The exit codes every command shares (docs/check.md), so CI and scripts read one scheme.

0: success, nothing to block. 1: findings (or failed test expectations, an unformatted file under
``fmt --check``, a flagged price change) that should fail the run. 2: usage, input or policy errors:
the run could not judge everything it was given. 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
