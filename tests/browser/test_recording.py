"""A recorded, captioned room in three Chromiums: everyone sees the Recording indicator; the
designated speaker, whose microphone plays espeak-ng speech, is asked before speaking and
agrees; a listener reads the speaker's words in the captions, hides and shows them; invited
to the stage, she declines to be recorded and stays in the audience; the host pauses the
recording and everyone sees it."""

import re
import wave

import pytest
from playwright.sync_api import expect

from rooms.models import Participant, RecordingConsent, Role
from rooms.recordings import demo
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, open_signed_in
from tests.conftest import make_room

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not demo.espeak_available(), reason="espeak-ng is missing"),
]

# Everything the page's screen-reader region says, kept (each message replaces the last).
KEEP_ANNOUNCEMENTS = """
window.announced = [];
new MutationObserver(() => {
  const region = document.querySelector("[data-announcer]");
  if (region && region.textContent) window.announced.push(region.textContent);
}).observe(document, { subtree: true, childList: true, characterData: true });
"""
SPOKEN = "good morning everyone and welcome to the talk about remote work"


@pytest.fixture
def chromiums(monkeypatch, tmp_path):
    """Two Chromiums: one with the fake microphone's default beep, one whose microphone
    says SPOKEN, over and over (one Playwright drives both)."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    samples = demo.speak(SPOKEN, "en-us+f2")
    path = tmp_path / "speech.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(demo.RATE)
        wav.writeframes(samples.tobytes() + bytes(demo.RATE))  # half a second's pause
    with sync_playwright() as playwright:
        plain = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        speech = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={path}"],
            headless=True,
        )
        try:
            yield plain, speech
        finally:
            speech.close()
            plain.close()


def test_recording_consent_and_captions_in_the_room(live_daphne, chromiums, alice, bob, carol):
    plain, speech = chromiums
    room = make_room(alice, speakers=[bob], title="Remote work", record=True, captions=True)
    host = open_signed_in(plain, live_daphne, alice)
    listener = open_signed_in(plain, live_daphne, carol)
    speaker = open_signed_in(speech, live_daphne, bob)
    listener.add_init_script(KEEP_ANNOUNCEMENTS)
    for page in (host, listener, speaker):
        page.goto(f"/rooms/{room.pk}/")
        expect(page.locator("[data-connection]")).to_have_attribute("data-connection", "live")
        expect(page.locator("[data-recording]")).to_be_visible()
        expect(page.locator("[data-recording]")).to_have_text("Recording")
    # A screen reader hears it on joining.
    listener.wait_for_function("window.announced.includes('This room is being recorded.')")

    # The speaker is asked first, and can't unmute before answering.
    consent = speaker.get_by_role("alertdialog")
    expect(consent).to_contain_text("This room is being recorded.")
    speaker.get_by_role("button", name="Agree and speak").click()
    expect(consent).to_be_hidden()
    speaker.get_by_role("button", name="Unmute", exact=True).click()
    # Unmuted: the server took the consent first (it refuses to unmute without it).
    expect(speaker.get_by_role("button", name="Mute", exact=True)).to_be_visible()
    assert RecordingConsent.objects.get(room=room, member=bob).agreed

    # Captions of Bob's words reach the listener, attributed to him.
    captions = listener.locator("[data-captions]")
    expect(captions).to_have_attribute("aria-live", "polite")
    expect(captions).to_contain_text(bob.display_name, timeout=30_000)
    expect(captions).to_contain_text(re.compile(r"morning|welcome|talk|remote|work"))
    cc = listener.get_by_role("button", name="Captions")
    expect(cc).to_have_attribute("aria-pressed", "true")
    cc.click()
    expect(cc).to_have_attribute("aria-pressed", "false")
    expect(listener.locator("[data-captions-section]")).to_be_hidden()
    cc.click()
    expect(listener.locator("[data-captions-section]")).to_be_visible()

    # Invited to the stage of a recorded room, the listener is asked; she declines.
    card = host.locator("[data-audience] li", has_text=carol.display_name)
    card.get_by_label(f"Actions for {carol.display_name}").click()
    card.get_by_role("button", name="Invite to speak").click()
    listener.get_by_role("button", name="Join the stage").click()
    expect(listener.get_by_role("alertdialog", name=re.compile("recorded"))).to_be_visible()
    listener.get_by_role("button", name="Stay in the audience").click()
    listener.wait_for_function("window.announced.includes('You stay in the audience.')")
    expect(listener.get_by_role("button", name="Raise hand")).to_be_visible()
    assert Participant.objects.get(room=room, member=carol).role == Role.LISTENER
    assert not RecordingConsent.objects.get(room=room, member=carol).agreed

    # Off the record: everyone sees it.
    host.get_by_text("Record", exact=True).click()
    host.get_by_role("button", name="Pause recording (off the record)").click()
    for page in (host, listener, speaker):
        expect(page.locator("[data-recording]")).to_contain_text("paused")
    for page in (host, listener, speaker):
        assert page.errors == []
        page.context.close()
