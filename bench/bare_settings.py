"""The intake bench's server settings: production's, plus one bare view (bench/bare_urls.py) that the
bench measures beside the intake, under the same middleware, workers and database."""

from __future__ import annotations

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare_urls"
