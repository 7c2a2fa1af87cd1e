"""Page helpers for the events tests (shared with the other page tests)."""

from tests.pages import field_errors, flashes, page_queries, section

__all__ = ["field_errors", "flashes", "page_queries", "section"]
