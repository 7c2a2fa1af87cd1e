// An ended room's replay (templates/rooms/_replay.html). The transcript's lines are links
// to ?t=seconds, so they work without this script; with it, a click seeks the player and
// plays, the line being heard is highlighted, and the timeline shows where we are. ?t= or
// #t= in the address seeks on load. While the replay is being prepared, the page asks
// every 5 s and shows it once it is ready.

const POLL_MS = 5000;
const HIDDEN_POLL_MS = 15000;

// --- "Preparing the replay…" ------------------------------------------------------------

const waiting = document.querySelector("[data-replay-waiting]");
const waitingStatus = waiting && waiting.querySelector("[data-replay-waiting-status]");

async function poll() {
  try {
    const response = await fetch(waiting.dataset.statusUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (response.ok) {
      const body = await response.json();
      if (body.status !== "processing") {
        waitingStatus.textContent = body.status === "ready" ? "The replay is ready. Loading it…" : "Loading…";
        window.location.reload();
        return;
      }
    } else if (response.status === 404) {
      return; // the room, or its recording, is gone for us: nothing to wait for
    }
  } catch {
    waitingStatus.textContent = "Offline? Trying again…";
  }
  setTimeout(poll, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
}

if (waiting) setTimeout(poll, POLL_MS);

// --- The player, the transcript and the timeline -----------------------------------------

const root = document.querySelector("[data-replay]");
if (root) setUp(root);

// Seconds asked for in the address: ?t=75, #t=75 (also #replay&t=75), whole or decimal.
export function requestedSeconds(location) {
  const fromQuery = new URLSearchParams(location.search).get("t");
  const fromHash = new URLSearchParams(location.hash.replace(/^#/, "").replace(/^replay&?/, "")).get("t");
  for (const value of [fromQuery, fromHash]) {
    const seconds = Number.parseFloat(value);
    if (value !== null && Number.isFinite(seconds) && seconds >= 0) return seconds;
  }
  return null;
}

function setUp(root) {
  const audio = root.querySelector("[data-replay-audio]");
  const lines = [...root.querySelectorAll(".replay-line")].map((item) => ({
    item,
    start: Number(item.dataset.startMs) / 1000,
    end: Number(item.dataset.endMs) / 1000,
  }));
  const list = root.querySelector("[data-replay-lines]");
  const bars = [...root.querySelectorAll(".replay-bar")];
  let current = null;
  let followScroll = true; // stop following while the reader scrolls the transcript themselves

  function seek(seconds, { play = true } = {}) {
    const go = () => {
      audio.currentTime = seconds;
      highlight();
      if (play) audio.play().catch(() => {}); // blocked until a gesture: the controls remain
    };
    if (audio.readyState >= HTMLMediaElement.HAVE_METADATA) go();
    else audio.addEventListener("loadedmetadata", go, { once: true });
    followScroll = true;
  }

  // The line being heard: the last one that has started (a line stays lit through a pause
  // that follows it, so the highlight doesn't flicker between sentences).
  function lineAt(seconds) {
    let low = 0;
    let high = lines.length - 1;
    let found = null;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (lines[mid].start <= seconds) {
        found = lines[mid];
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  }

  function highlight() {
    const seconds = audio.currentTime;
    const line = lineAt(seconds);
    if (line !== current) {
      if (current) {
        current.item.classList.remove("is-current");
        current.item.removeAttribute("aria-current");
      }
      current = line;
      if (line) {
        line.item.classList.add("is-current");
        line.item.setAttribute("aria-current", "true");
        if (followScroll && !audio.paused && list) scrollIntoList(line.item);
      }
    }
    const duration = audio.duration || Number(bars[0]?.dataset.durationMs) / 1000 || 0;
    const at = duration ? `${Math.min(100, (100 * seconds) / duration)}%` : "0%";
    for (const bar of bars) {
      bar.style.setProperty("--at", at);
      bar.style.setProperty("--playing", audio.paused && seconds === 0 ? "0" : "1");
    }
  }

  // Scroll the transcript box only, never the page under the reader.
  function scrollIntoList(item) {
    const top = item.offsetTop - list.offsetTop;
    if (top < list.scrollTop || top + item.offsetHeight > list.scrollTop + list.clientHeight) {
      list.scrollTop = top - list.clientHeight / 3;
    }
  }

  root.addEventListener("click", (event) => {
    const link = event.target.closest("[data-seek]");
    const line = event.target.closest(".replay-line");
    const bar = event.target.closest(".replay-bar");
    if (link || line) {
      if (event.target.closest("a") && (event.metaKey || event.ctrlKey || event.shiftKey)) return; // a new tab
      event.preventDefault();
      const ms = Number((link || line.querySelector("[data-seek]")).dataset.seek);
      const seconds = ms / 1000;
      seek(seconds);
      history.replaceState(null, "", `?t=${Math.floor(seconds)}#replay`);
    } else if (bar) {
      const box = bar.getBoundingClientRect();
      const share = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
      const duration = audio.duration || Number(bar.dataset.durationMs) / 1000;
      if (duration) seek(share * duration);
    }
  });

  if (list) {
    // A reader who scrolls the transcript reads at their own pace until they seek again.
    list.addEventListener("wheel", () => (followScroll = false), { passive: true });
    list.addEventListener("touchmove", () => (followScroll = false), { passive: true });
  }
  audio.addEventListener("timeupdate", highlight);
  audio.addEventListener("seeked", highlight);
  audio.addEventListener("play", () => (followScroll = true));

  const seconds = requestedSeconds(window.location);
  if (seconds !== null) {
    seek(seconds, { play: false });
    const line = lineAt(seconds);
    if (line) line.item.scrollIntoView({ block: "nearest" });
  }
}
