"""Shared fixtures: a manual clock and a registry that reads it."""

from __future__ import annotations

import pytest

from routeyard import ManualClock, Registry

START = 1_000


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(now=START)


@pytest.fixture
def registry(clock: ManualClock) -> Registry:
    return Registry(max_ttl=120, clock=clock)
