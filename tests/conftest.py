"""Hypothesis profiles: `ci` (CI=true: every run tries the same examples, so a green commit
stays green and a failure reproduces) and `dev` (random examples, to go on finding new
failing schedules). HYPOTHESIS_PROFILE picks one explicitly."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True, database=None)
settings.register_profile("dev", print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev")
)
