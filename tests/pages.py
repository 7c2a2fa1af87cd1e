"""Page helpers shared by page tests: query counts, field errors, flash messages, sections.

Conftests that want them import the fixtures by name.
"""

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext


@pytest.fixture
def page_queries():
    """GET a page and return how many queries rendering it took."""

    def count(client, url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    return count


@pytest.fixture
def field_errors():
    """The error text shown inside a form field's own block (label, input, errors)."""

    def errors(response, name: str) -> str:
        page = response.content.decode()
        match = re.search(
            rf'<label for="id_{name}">(?:(?!<div class="field).)*?'
            rf'<ul class="field-errors" id="id_{name}_error"[^>]*>(.*?)</ul>',
            page,
            re.S,
        )
        return "" if match is None else html.unescape(re.sub(r"<[^>]+>", " ", match[1]))

    return errors


@pytest.fixture
def flashes():
    """The messages shown on a page, as (level, text) pairs."""

    def read(response) -> list[tuple[str, str]]:
        page = response.content.decode()
        found = re.findall(r'<p class="alert alert-(\w+)">(.*?)</p>', page, re.S)
        return [(level, html.unescape(text)) for level, text in found]

    return read


@pytest.fixture
def section():
    """The HTML of the page section labelled by the heading with this id ("" if absent)."""

    def cut(response, heading_id: str) -> str:
        page = response.content.decode()
        match = re.search(rf'<section[^>]*aria-labelledby="{heading_id}".*?</section>', page, re.S)
        return "" if match is None else match[0]

    return cut
