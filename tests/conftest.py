"""Fixtures shared by every test module.

``fake_hub``: a started loopback fake Hugging Face Hub (see tests/fakehub), stopped after the test.
"""

from tests.fakehub.fixture import fake_hub

__all__ = ["fake_hub"]
