"""Fixtures for the eval tests."""

import pytest
from eval_fakes import fixture_items


@pytest.fixture
def items():
    return fixture_items()
