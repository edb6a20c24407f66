"""Shared fixtures: the shipped search spaces."""

from __future__ import annotations

import pytest

from ofa_mcu.space import load_space


@pytest.fixture(params=["mcu-32", "mcu-imagenet"])
def space(request):
    return load_space(request.param)
