"""What an offer must look like before aiortc sees it, and the answer's Opus settings."""

import re
from dataclasses import dataclass

from aiortc import sdp as aiortc_sdp

from media.errors import MediaError

MAX_SDP_BYTES = 16 * 1024
MAX_CANDIDATES = 30


@dataclass(frozen=True)
class OfferSummary:
    mic_opus_pt: int


def check_offer(offer: str, *, slots: int) -> OfferSummary:
    """Refuse anything but the offer room.js makes: audio only, one microphone m-line the
    browser sends on, then `slots` receive-only m-lines, with Opus."""
    if not isinstance(offer, str) or not offer.strip():
        raise MediaError("bad_sdp", "The offer is empty.")
    if len(offer.encode()) > MAX_SDP_BYTES:
        raise MediaError("sdp_too_large", "The offer is larger than 16 KiB.")
    if not offer.startswith("v=0"):
        raise MediaError("bad_sdp", "That is not an SDP offer.")
    kinds = re.findall(r"^m=(\w+)", offer, flags=re.MULTILINE)
    if any(kind != "audio" for kind in kinds):
        raise MediaError("audio_only", "Rooms carry audio only; remove video and data.")
    if len(kinds) != 1 + slots:
        raise MediaError("bad_sdp", f"The offer needs 1 + {slots} audio sections.")
    try:
        parsed = aiortc_sdp.SessionDescription.parse(offer)
    except Exception:  # aiortc's parser raises ValueError, KeyError, IndexError...
        raise MediaError("bad_sdp", "The offer can't be parsed.") from None
    mic = parsed.media[0]
    if mic.direction not in ("sendonly", "sendrecv"):
        raise MediaError("bad_sdp", "The first audio section must be the microphone.")
    opus = [c.payloadType for c in mic.rtp.codecs if c.mimeType.lower() == "audio/opus"]
    if not opus:
        raise MediaError("bad_sdp", "The offer has no Opus.")
    for media in parsed.media[1:]:
        if media.direction not in ("recvonly", "sendrecv"):
            raise MediaError("bad_sdp", "The slot sections must receive.")
    for media in parsed.media:
        _check_transport(media)
    return OfferSummary(mic_opus_pt=opus[0])


DTLS_HASHES = frozenset({"sha-1", "sha-224", "sha-256", "sha-384", "sha-512"})
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){15,63}")


def _check_transport(media) -> None:
    """What aiortc would otherwise find missing only once connecting, in a task of its own
    (an assertion there is a traceback in the log and a peer that never connects): ICE
    credentials, a DTLS fingerprint it can check and a DTLS role, and RTCP on the RTP port."""
    if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
        raise MediaError("bad_sdp", "The offer has no ICE credentials.")
    dtls = media.dtls
    if dtls is None or dtls.role is None or not dtls.fingerprints:
        raise MediaError("bad_sdp", "The offer has no DTLS fingerprint.")
    for fingerprint in dtls.fingerprints:
        if fingerprint.algorithm.lower() not in DTLS_HASHES or not _FINGERPRINT.fullmatch(
            fingerprint.value
        ):
            raise MediaError("bad_sdp", "The offer's DTLS fingerprint is malformed.")
    if not media.rtcp_mux:
        raise MediaError("bad_sdp", "The offer must multiplex RTCP (a=rtcp-mux).")


def tune_answer(answer: str) -> str:
    """Opus with in-band FEC and DTX: silence costs almost nothing."""
    opus_pts = set(re.findall(r"^a=rtpmap:(\d+) opus/48000", answer, flags=re.MULTILINE | re.I))
    lines = []
    for line in answer.split("\r\n"):
        match = re.match(r"a=fmtp:(\d+) ", line)
        if match and match.group(1) in opus_pts:
            continue
        lines.append(line)
        match = re.match(r"a=rtpmap:(\d+) opus/48000", line, flags=re.I)
        if match:
            lines.append(f"a=fmtp:{match.group(1)} minptime=10;useinbandfec=1;usedtx=1")
    return "\r\n".join(lines)
