// WebRTC for the room page. One peer connection per visit, offered once when the room
// socket is ready: one audio transceiver we send on (silent until we're on stage, when the
// microphone goes in with replaceTrack, never a new offer) and K receive slots that carry
// the loudest speakers. The server decides who is heard; muting here is only a courtesy.

const SLOTS = 3;
const GATHER_TIMEOUT_MS = 3000;
const RETRY_MS = [1000, 2000, 5000, 10000];

export function createAudio({ send, announce, setStatus, iceServers }) {
  let pc = null;
  let mic = null; // the MediaStream from getUserMedia, while on stage
  let micSender = null;
  let wantMic = false;
  let micMuted = true;
  let retries = 0;
  let retryTimer = null;
  let stopped = false;
  let awaiting = false; // an offer is out and its answer not yet here
  const players = [];

  for (let i = 0; i < SLOTS; i++) {
    // Unmuted <audio> elements: Chromium reports inbound audio levels only for these.
    const player = document.createElement("audio");
    player.autoplay = true;
    player.dataset.slot = String(i);
    document.body.append(player);
    players.push(player);
  }

  async function start() {
    clearTimeout(retryTimer);
    close();
    if (stopped) return;
    setStatus("connecting", "Connecting audio…");
    pc = new RTCPeerConnection({ iceServers });
    const current = pc;
    let offered = false;
    const micTransceiver = pc.addTransceiver("audio", { direction: "sendonly" });
    micSender = micTransceiver.sender;
    for (let i = 0; i < SLOTS; i++) pc.addTransceiver("audio", { direction: "recvonly" });
    pc.addEventListener("track", (event) => {
      const index = pc.getTransceivers().indexOf(event.transceiver) - 1;
      const player = players[index];
      if (!player) return;
      player.srcObject = new MediaStream([event.track]);
      player.play().catch(() => setStatus("blocked", "Tap anywhere to turn on the sound."));
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc !== current) return;
      const state = current.connectionState;
      if (state === "connected") {
        retries = 0;
        setStatus("connected", "Audio connected");
      } else if (state === "failed" || state === "closed") {
        scheduleRetry("Audio lost. Reconnecting…");
      } else if (state === "disconnected") {
        setStatus("connecting", "Audio interrupted…");
        // Give ICE a moment to recover by itself before starting over.
        retryTimer = setTimeout(() => {
          if (pc === current && current.connectionState !== "connected") scheduleRetry("Reconnecting audio…");
        }, 5000);
      }
    });
    pc.addEventListener("icecandidate", (event) => {
      // Candidates found after the offer went out (slow STUN/TURN) follow separately.
      if (pc === current && offered && event.candidate && event.candidate.candidate) {
        send("rtc.candidate", {
          candidate: event.candidate.candidate,
          sdpMid: event.candidate.sdpMid,
          sdpMLineIndex: event.candidate.sdpMLineIndex,
        });
      }
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    if (pc !== current) return;
    offered = true;
    awaiting = send("rtc.offer", { sdp: pc.localDescription.sdp });
    if (wantMic && mic) await micSender.replaceTrack(mic.getAudioTracks()[0]);
  }

  function gathered(connection) {
    if (connection.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        connection.removeEventListener("icegatheringstatechange", check);
        resolve();
      };
      const check = () => connection.iceGatheringState === "complete" && done();
      connection.addEventListener("icegatheringstatechange", check);
      setTimeout(done, GATHER_TIMEOUT_MS);
    });
  }

  function scheduleRetry(text) {
    if (stopped) return;
    const wait = RETRY_MS[Math.min(retries, RETRY_MS.length - 1)];
    retries += 1;
    setStatus("connecting", text);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(start, wait);
  }

  async function answer(sdp) {
    awaiting = false;
    if (!pc) return;
    try {
      await pc.setRemoteDescription({ type: "answer", sdp });
    } catch {
      scheduleRetry("Audio setup failed. Retrying…");
    }
  }

  // On stage: ask for the microphone (only now) and put it on the negotiated transceiver.
  async function setStage(onStage, muted) {
    micMuted = muted;
    if (onStage && !wantMic) {
      wantMic = true;
      try {
        mic = await navigator.mediaDevices.getUserMedia({
          audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        });
      } catch {
        wantMic = false;
        announce("Podium can't use your microphone. Allow it in the browser to speak.");
        send("mute.self");
        return;
      }
      if (!wantMic) return releaseMic(); // left the stage while the prompt was open
      if (micSender) await micSender.replaceTrack(mic.getAudioTracks()[0]);
    } else if (!onStage && wantMic) {
      wantMic = false;
      await releaseMic();
    }
    if (mic) for (const track of mic.getAudioTracks()) track.enabled = !micMuted;
  }

  async function releaseMic() {
    if (micSender) await micSender.replaceTrack(null).catch(() => {});
    if (mic) for (const track of mic.getTracks()) track.stop();
    mic = null;
  }

  // The server refused the request in flight for now (rooms.consumers: "unavailable"):
  // an offer that went unanswered is made again, later.
  function unanswered() {
    if (awaiting) scheduleRetry("Audio isn't available: retrying…");
  }

  function close() {
    awaiting = false;
    if (pc) {
      pc.close();
      pc = null;
    }
  }

  function stop() {
    stopped = true;
    clearTimeout(retryTimer);
    releaseMic();
    close();
    for (const player of players) player.srcObject = null;
  }

  document.addEventListener("click", () => {
    for (const player of players) if (player.srcObject && player.paused) player.play().catch(() => {});
  });

  return { start, answer, setStage, stop, unanswered, error: scheduleRetry };
}
