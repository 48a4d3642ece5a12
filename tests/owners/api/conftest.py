from __future__ import annotations

import pytest
import time_machine

from .records import NOW


@pytest.fixture
def frozen():
    """The clock stopped at NOW: the record APIs' answers carry exact times."""
    with time_machine.travel(NOW, tick=False):
        yield
