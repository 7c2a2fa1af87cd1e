"""Two people in two Chromiums hear each other through a room: the host's microphone plays
440 Hz, the listener's 880 Hz; the listener's page hears 440 Hz, raises a hand, is brought
on stage, unmutes, and then the host's page hears 880 Hz. Audio goes through the server's
forwarder over real WebRTC on 127.0.0.1."""

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import open_signed_in
from tests.conftest import make_room

pytestmark = pytest.mark.browser

# In the page: the dominant frequency and level of each receive slot, from a WebAudio
# analyser on the <audio> elements' streams.
LISTEN = """
async (seconds) => {
  const players = [...document.querySelectorAll("audio[data-slot]")].filter((p) => p.srcObject);
  const context = new AudioContext();
  const analysers = players.map((player) => {
    const analyser = context.createAnalyser();
    analyser.fftSize = 8192;
    context.createMediaStreamSource(player.srcObject).connect(analyser);
    return analyser;
  });
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const heard = analysers.map((analyser) => {
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    let best = 1;
    for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    return { hz: (best * context.sampleRate) / analyser.fftSize, db: bins[best] };
  });
  await context.close();
  return heard;
}
"""


def hears(page, frequency: float, timeout: float = 20.0) -> list:
    """Wait until some slot on the page carries `frequency` (±20 Hz) clearly above silence."""
    deadline = time.monotonic() + timeout
    heard = []
    while time.monotonic() < deadline:
        heard = page.evaluate(LISTEN, 0.5)
        if any(abs(s["hz"] - frequency) < 20 and s["db"] > -70 for s in heard):
            return heard
    raise AssertionError(f"never heard {frequency} Hz; last heard {heard}")


def test_two_people_hear_each_other_through_a_room(live_daphne, tone_browsers, alice, carol):
    room = make_room(alice, title="Sound check")
    host = open_signed_in(tone_browsers(440), live_daphne, alice)
    listener = open_signed_in(tone_browsers(880), live_daphne, carol)
    host.goto(f"/rooms/{room.pk}/")
    listener.goto(f"/rooms/{room.pk}/")
    for page in (host, listener):
        expect(page.locator("[data-audio-status]")).to_have_text("Audio connected", timeout=15_000)

    # The host (on stage from the start) unmutes; the listener hears the host's 440 Hz.
    host.get_by_role("button", name="Unmute").click()
    hears(listener, 440)
    speaking = listener.locator(".stage-person.is-speaking")
    expect(speaking).to_contain_text("Alice Moreau", timeout=10_000)

    # The listener raises a hand, is approved, unmutes; now the host hears 880 Hz.
    listener.get_by_role("button", name="Raise hand").click()
    host.get_by_role("button", name="Approve Carol Nguyen").click()
    expect(listener.get_by_role("button", name="Unmute")).to_be_visible()
    listener.get_by_role("button", name="Unmute").click()
    hears(host, 880)

    # Muting stops it for everyone, whatever the browser sends.
    listener.get_by_role("button", name="Mute", exact=False).first.click()
    time.sleep(1.0)
    heard = host.evaluate(LISTEN, 0.5)
    assert not any(abs(s["hz"] - 880) < 20 and s["db"] > -70 for s in heard), heard
    assert host.errors == [] and listener.errors == []
