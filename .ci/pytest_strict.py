"""Run pytest, and treat "no tests were collected" (exit 5) as the failure it is.

pytest exits 5 when nothing was collected, e.g. a mistyped path or a marker that deselects
everything. A silent green run that tested nothing is worse than a red one.
"""

import sys

import pytest

code = pytest.main(sys.argv[1:])
if code == pytest.ExitCode.NO_TESTS_COLLECTED:
    print("pytest_strict: no tests were collected; failing instead of passing silently")
    sys.exit(1)
sys.exit(int(code))
