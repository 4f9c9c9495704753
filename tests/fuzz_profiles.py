"""Hypothesis profiles for the fuzz campaign (tests/test_fuzz*.py).

    fast (default, in `make test`): a few dozen cases per property, derandomized so CI is stable.
    long: LINREG_FUZZ=long [LINREG_FUZZ_EXAMPLES=N] (`make fuzz`): N cases per property (default
          5000), random seeds, no deadline; `--hypothesis-show-statistics` prints the counts.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                     HealthCheck.function_scoped_fixture])
settings.register_profile("fast", max_examples=25, derandomize=True, database=None, **_COMMON)
settings.register_profile("long", max_examples=int(os.environ.get("LINREG_FUZZ_EXAMPLES", "5000")),
                          **_COMMON)
PROFILE = os.environ.get("LINREG_FUZZ", "fast")
settings.load_profile(PROFILE)
