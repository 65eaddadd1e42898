"""Fixtures for the real-socket tests: per-test socket bags and holder pools, and the shared scenario.

Everything opened here is closed by a finalizer (sockets, holder processes, socket files), also when a
test fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from .holders import HolderPool
from .scenario import Scenario, SocketBag, build_scenario, make_time_wait


@pytest.fixture
def bag() -> Iterator[SocketBag]:
    """A per-test place to put sockets so they are closed whatever happens."""
    socks = SocketBag()
    try:
        yield socks
    finally:
        socks.close()


@pytest.fixture
def holders() -> Iterator[HolderPool]:
    pool = HolderPool()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """The scenario without TIME_WAIT (one per test module; cheap)."""
    with contextlib.ExitStack() as stack:
        yield build_scenario(stack, tmp_path_factory.mktemp("sc"))


@pytest.fixture(scope="module")
def scenario_tw(scenario: Scenario) -> Scenario:
    """The scenario plus a TIME_WAIT flow next to its IPv4 listener."""
    if scenario.time_wait is None:
        scenario.time_wait = make_time_wait(scenario.socks["tcp4_listener"])
    return scenario
