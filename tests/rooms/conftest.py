"""Page helpers for the rooms tests (shared with the other page tests)."""

from tests.pages import field_errors, flashes

__all__ = ["field_errors", "flashes"]
