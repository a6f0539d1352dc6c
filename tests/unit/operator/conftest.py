"""Fixtures for the operator's unit tests."""

from __future__ import annotations

import pytest
from mcpod_operator.settings import Settings
from operator_factories import ROUTING_KEY, BodyFactory, make_connection_body


@pytest.fixture
def settings() -> Settings:
    return Settings(routing_key=ROUTING_KEY, namespaces=("ns",), identity="test-operator")


@pytest.fixture
def connection_body() -> BodyFactory:
    return make_connection_body
