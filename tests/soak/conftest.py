"""The soak tier runs the real handler against the local AWS emulator, like the functional tier."""

from tests.functional.conftest import aws

__all__ = ["aws"]
