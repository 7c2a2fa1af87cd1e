"""Plain helpers for the accounts tests: links from the outbox, pictures made with Pillow."""

import html
import io
import os
import re

from django.core import mail
from PIL import Image

# The password make_member() gives every persona.
PASSWORD = "pw-for-tests-1"


def outbox_link(message=None) -> str:
    """The path of the one link in an email (the last email sent by default)."""
    message = message or mail.outbox[-1]
    links = re.findall(r"https?://testserver(/\S+)", message.body)
    assert len(links) == 1, message.body
    return links[0]


def picture(fmt: str = "PNG", size: tuple[int, int] = (32, 32), *, noise: bool = False) -> bytes:
    """A real picture in the given format; noise makes it incompressible, and so large."""
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (200, 80, 40))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def field_errors(page: str, field: str) -> str:
    """The text of the error list rendered next to a form field ("" when there is none)."""
    match = re.search(
        rf'<ul class="field-errors" id="id_{field}_error" role="alert">(.*?)</ul>', page, re.S
    )
    return html.unescape(match.group(1)) if match else ""
