"""The product's settings with the benchmark's URL configuration on top.

The yardstick endpoints (bench/urls.py) exist only here: `config.urls`, which the product serves,
never routes to them.
"""

from __future__ import annotations

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
