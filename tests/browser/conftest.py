"""Real-browser tests: Debian's Chromium driven by Playwright against a real Daphne.

Daphne runs as a subprocess on the test database (a file for SQLite, the test database for
PostgreSQL), so what the test writes through the ORM, the server sees, and vice versa.
"""

from pathlib import Path

import pytest
from django.test import Client

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason="needs Debian's chromium at /usr/bin/chromium")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still plain synchronous code, so Django's async-context guard doesn't apply to them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


def write_tone(path: Path, frequency: float, seconds: float = 30.0) -> Path:
    """A mono 48 kHz WAV of a sine tone, for Chromium's fake microphone."""
    import math
    import struct
    import wave

    rate = 48_000
    frames = b"".join(
        struct.pack("<h", int(12_000 * math.sin(2 * math.pi * frequency * n / rate)))
        for n in range(int(rate * seconds))
    )
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return path


@pytest.fixture
def tone_browsers(monkeypatch, tmp_path):
    """tone_browsers(hz) -> a separate Chromium whose microphone plays a tone of hz."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = []

        def launch(frequency: float):
            wav = write_tone(tmp_path / f"tone-{frequency:g}.wav", frequency)
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={wav}"],
                headless=True,
            )
            launched.append(chromium)
            return chromium

        try:
            yield launch
        finally:
            for chromium in launched:
                chromium.close()


def open_signed_in(chromium, base_url: str, member, viewport=(1280, 900)):
    """A Playwright page in a new context of `chromium`, logged in as the member; its
    `errors` collect the page's uncaught JavaScript errors."""
    client = Client()
    client.force_login(member)
    context = chromium.new_context(
        viewport={"width": viewport[0], "height": viewport[1]}, base_url=base_url
    )
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "domain": "127.0.0.1",
                "path": "/",
            }
        ]
    )
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return page


@pytest.fixture
def signed_in(browser, live_daphne):
    """signed_in(member) -> a Playwright page whose browser is logged in as the member."""
    pages = []

    def open_page(member, *, viewport=(1280, 900)):
        page = open_signed_in(browser, live_daphne, member, viewport)
        pages.append(page)
        return page

    yield open_page
    for page in pages:
        page.context.close()
