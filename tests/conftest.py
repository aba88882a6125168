from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import RunningBox, running_box

pytest_plugins = ["tests.domain_support"]  # the `domain` fixture: Store + EventLog, no server


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[RunningBox]:
    async with running_box(tmp_path) as running:
        yield running
