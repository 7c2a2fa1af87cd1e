"""Capture a real Chromium offer shaped as room.js makes it (one sendonly microphone
transceiver, then SLOTS recvonly slots; static/rooms/js/audio.js), with its ICE candidates
gathered, into tests/media/data/chromium_offer.sdp: the seed of the malformed-SDP corpus
(tests/cluster/test_sdp_corpus_daphne.py). Run again after a Chromium upgrade:

    .venv/bin/python -m tests.media.capture_offer
"""

import asyncio
from pathlib import Path

from playwright.async_api import async_playwright

OUT = Path(__file__).parent / "data" / "chromium_offer.sdp"
SLOTS = 3

SCRIPT = """async (slots) => {
  const pc = new RTCPeerConnection({ iceServers: [] });
  // As room.js: the microphone goes in later with replaceTrack, never in the offer.
  pc.addTransceiver("audio", { direction: "sendonly" });
  for (let i = 0; i < slots; i++) pc.addTransceiver("audio", { direction: "recvonly" });
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== "complete") {
    await new Promise((done) => {
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") done();
      });
      setTimeout(done, 3000);
    });
  }
  return pc.localDescription.sdp;
}"""


async def main() -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        page = await browser.new_page()
        await page.goto("about:blank")
        sdp = await page.evaluate(SCRIPT, SLOTS)
        await browser.close()
    OUT.write_bytes(sdp.encode())
    print(f"{OUT}: {len(sdp)} bytes, {sdp.count('m=audio')} audio m-lines")


if __name__ == "__main__":
    asyncio.run(main())
