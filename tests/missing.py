"""What a test does when a real part it needs is missing (a browser, a capability, the
vector corpus, a git checkout): fail under CI, which installs and permits every part, and
skip with the reason elsewhere."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(reason: str) -> NoReturn:
    """Fail (``CI`` set) or skip, saying what is missing."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: CI provides this, so its absence is a failure)")
    pytest.skip(reason)
