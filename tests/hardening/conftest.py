"""Hypothesis profiles of the hardening suite: a short, reproducible CI mode and a long mode.

`make test` runs the CI mode: few examples per property, derandomized (the same examples on
every run), no deadline. `CELLSBOT_HARDENING=long` (`make hardening`) selects the long mode:
many more examples, a fresh random seed each run, and a `@reproduce_failure` blob printed with
any failure. Neither mode writes an example database into the working tree.

A test takes its settings from `fuzz_settings(ci=…, long=…)`, which picks the example count
of the current mode (properties differ a lot in cost per example).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

MODE_ENV = "CELLSBOT_HARDENING"
LONG = os.environ.get(MODE_ENV, "").strip().lower() == "long"
CI_PROFILE, LONG_PROFILE = "cellsbot-hardening-ci", "cellsbot-hardening-long"

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    CI_PROFILE,
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.register_profile(
    LONG_PROFILE,
    max_examples=2000,
    deadline=None,
    derandomize=False,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
PROFILE = LONG_PROFILE if LONG else CI_PROFILE


def fuzz_settings(*, ci: int, long: int) -> settings:
    """The current mode's profile with `ci` or `long` examples per property."""
    return settings(settings.get_profile(PROFILE), max_examples=long if LONG else ci)
