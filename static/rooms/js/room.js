// The live room page: one websocket to /ws/rooms/<id>/ carrying signaling and role changes.
// The server is the authority: this module renders what it is told and sends requests.
// Protocol: rooms/protocol.py. Every event carries the room's version; a gap means we
// missed something, and we ask for the whole state again (state.sync).

import { createAudio } from "./audio.js";
import { avatar, el, identity, personMenu as menuFor, ROLE_LABEL } from "./people.js";
import { createQuestions } from "./questions.js";
import { createRecording } from "./record.js";

const root = document.getElementById("room");
const roomId = Number(root.dataset.roomId);
const me = Number(root.dataset.memberId);
const $ = (selector) => root.querySelector(selector);

// The server's realtime rules (rooms/protocol.py, rooms/permissions.py), handed over by the page.
const realtime = JSON.parse(document.getElementById("room-realtime").textContent);
// Close codes after which reconnecting cannot help, with what to say.
const TERMINAL = new Map(Object.entries(realtime.closes.terminal).map(([code, text]) => [Number(code), text]));

const state = {
  version: -1,
  stage: [],
  audience: { count: 0, people: [] },
  queue: [],
  you: null,
  done: false,
};
let socket = null;
let retry = 0;
let retryTimer = null;
let pendingBan = null;
let freshSocket = false; // the next room.state is the first on a new socket
// Who is looking, for the person menus.
const viewer = () => ({ you: state.you, me, roomId, rules: realtime.permissions });
const personMenu = (person) => menuFor(person, viewer());
const MEDIA_ERRORS = new Set(["bad_sdp", "audio_only", "sdp_too_large", "media_full", "no_peer"]);
const audio = createAudio({
  send: (type, fields) => send(type, fields),
  announce: (text) => announce(text),
  setStatus: (kind, text) => {
    const status = $("[data-audio-status]");
    status.dataset.audio = kind;
    status.textContent = text;
  },
  iceServers: JSON.parse(root.dataset.iceServers || "[]"),
});
const questions = createQuestions({
  root,
  send: (type, fields) => send(type, fields),
  announce: (text) => announce(text),
  me,
  roomId,
});

const recording = createRecording({
  root,
  send: (type, fields) => send(type, fields),
  announce: (text) => announce(text),
  nameOf: (member) => {
    const person = [...state.stage, ...state.audience.people].find((p) => p.member === member);
    return person ? person.name : "A speaker";
  },
});

function send(type, fields = {}) {
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type, ...fields }));
    return true;
  }
  announce("Not connected yet. Try again in a moment.");
  return false;
}

// --- Connection --------------------------------------------------------------------------

function connect() {
  clearTimeout(retryTimer);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/rooms/${roomId}/`);
  freshSocket = true;
  setConnection("connecting", retry ? "Reconnecting…" : "Connecting to the room…");
  socket.addEventListener("message", (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    handle(event);
  });
  socket.addEventListener("close", (closeEvent) => {
    socket = null;
    if (state.done) return;
    const terminal = TERMINAL.get(closeEvent.code);
    if (terminal) {
      finish(closeEvent.code === realtime.closes.ended ? "This room has ended" : "You left the room", terminal);
      return;
    }
    if (closeEvent.code === realtime.closes.unavailable) {
      // The server can't reach its database for a moment: keep trying, gently.
      retry = 1;
      setConnection("connecting", "Reconnecting…");
      retryTimer = setTimeout(connect, 1000 + Math.random() * 1000);
      return;
    }
    if (closeEvent.code === realtime.closes.moving) {
      // The server is restarting: another one takes over at once.
      retry = 1;
      setConnection("connecting", "Reconnecting…");
      retryTimer = setTimeout(connect, 50);
      return;
    }
    retry += 1;
    const wait = Math.min(10000, 500 * 2 ** Math.min(retry, 5));
    setConnection("offline", `Connection lost. Reconnecting in ${Math.round(wait / 1000)} s…`);
    retryTimer = setTimeout(connect, wait);
  });
}

function setConnection(kind, text) {
  const bar = $(".connection");
  bar.dataset.connection = kind;
  $("[data-connection-text]").textContent = text;
  bar.hidden = kind === "live";
}

function finish(title, text) {
  state.done = true;
  audio.stop();
  if (socket) socket.close();
  setConnection("live", "");
  $("[data-ended-title]").textContent = title;
  $("[data-ended-text]").textContent = text;
  $("[data-ended]").hidden = false;
  for (const el of root.querySelectorAll(".controls, .section, [data-invite]")) el.hidden = true;
  recording.stop();
  announce(`${title}. ${text}`);
}

// --- Events ------------------------------------------------------------------------------

function handle(event) {
  switch (event.type) {
    case "room.state":
      applySnapshot(event);
      break;
    case "stage.changed":
      if (event.version <= state.version) return; // stale: already seen via a later state
      if (event.version !== state.version + 1) return resync();
      state.version = event.version;
      announceStageChange(state.stage, event.stage);
      state.stage = event.stage;
      renderStage();
      break;
    case "audience.changed":
      if (event.version > state.version) return resync();
      state.audience = { count: event.count, people: event.audience };
      renderAudience();
      break;
    case "hand.queue":
      if (event.version > state.version) return resync();
      state.queue = event.queue;
      renderQueue();
      break;
    case "role.changed":
      if (event.version > state.version) return resync();
      applyYou(event.you);
      break;
    case "invited":
      // The role.changed that follows announces it, with this name.
      state.invitedBy = event.by;
      $("[data-invite-by]").textContent = event.by;
      break;
    case "muted":
      announce(`${event.by} muted you.`);
      break;
    case "removed":
      finish(
        "You were removed from this room",
        event.message ||
          (event.banned ? "A moderator banned you from this room." : "A moderator removed you."),
      );
      break;
    case "room.ended":
      finish("This room has ended", "Thanks for listening.");
      break;
    case "session.replaced":
      finish("Opened somewhere else", "You opened this room in another tab or window.");
      break;
    case "reaction":
      showReaction(event);
      break;
    case "speakers.active":
      markSpeaking(new Set(event.members));
      break;
    case "rtc.answer":
      audio.answer(event.sdp);
      break;
    case "resync":
      // Redis was away on the server: events may be missing. Ask for the whole state, at a
      // moment of our own, so that a whole room doesn't ask at once.
      setTimeout(resync, Math.random() * 2000);
      break;
    case "questions":
      questions.apply(event.questions, event.voted);
      break;
    case "recording":
      // It may share its version with a stage.changed sent just before it (speakers muted
      // as the record starts); it is the whole recording state, so applying it twice is fine.
      if (event.version < state.version) return;
      if (event.version > state.version + 1) return resync();
      state.version = event.version;
      recording.apply(event, { note: event.note });
      break;
    case "captions":
      recording.captions(event.lines);
      break;
    case "error":
      announce(event.message);
      questions.refused();
      if (MEDIA_ERRORS.has(event.code)) audio.error("Audio isn't available: retrying…");
      if (event.code === "unavailable") unavailable();
      break;
  }
}

function resync() {
  if (socket && socket.readyState === WebSocket.OPEN) send("state.sync");
}

// The server couldn't carry out a request (its database is away for a moment); nothing was
// done. Say so, and ask for the whole state until it answers: the room.state clears it.
let resyncTimer = null;
function unavailable() {
  setConnection("connecting", "Reconnecting…");
  audio.unanswered();
  clearTimeout(resyncTimer);
  resyncTimer = setTimeout(resync, 1500);
}

function applySnapshot(event) {
  retry = 0;
  setConnection("live", "");
  state.version = event.version;
  state.stage = event.stage;
  state.audience = { count: event.audience.count, people: event.audience.first_page };
  state.queue = event.hand_queue;
  questions.setYou(event.you);
  questions.apply(event.questions, event.questions_voted);
  recording.apply(event.recording);
  renderStage();
  renderAudience();
  renderQueue();
  applyYou(event.you, { quiet: true });
  if (freshSocket) {
    // Each new socket gets a new peer connection: the server dropped the old one with it.
    freshSocket = false;
    audio.start();
  }
}

function applyYou(you, { quiet = false } = {}) {
  const before = state.you;
  state.you = you;
  questions.setYou(you);
  recording.setYou(you);
  if (!quiet && before) {
    if (before.role === "listener" && you.role !== "listener") {
      announce(you.role === "moderator" ? "You're now a moderator." : "You're now a speaker.");
    } else if (before.role !== "listener" && you.role === "listener") {
      announce("You're back in the audience.");
    } else if (before.role === "speaker" && you.role === "moderator") {
      announce("You're now a moderator.");
    } else if (before.role === "moderator" && you.role === "speaker") {
      announce("You're no longer a moderator.");
    }
    if (!before.invited && you.invited) {
      announce(state.invitedBy ? `${state.invitedBy} invited you to speak.` : "You've been invited to speak.");
    }
    if (before.hand_raised !== you.hand_raised && you.role === "listener") {
      announce(you.hand_raised ? "Your hand is raised." : "Your hand is lowered.");
    }
  }
  renderControls();
  renderStage();
  renderAudience();
  renderQueue();
  audio.setStage(you.role !== "listener", you.muted);
}

// --- Rendering ---------------------------------------------------------------------------

// A list that holds the keyboard focus (an open "•••" menu, say) isn't rebuilt under the
// user: it is drawn again once focus leaves it.
const deferred = new Map(); // list element -> its render function
function holdsFocus(list, render) {
  if (!list.contains(document.activeElement)) return false;
  if (!deferred.has(list)) {
    deferred.set(list, render);
    list.addEventListener(
      "focusout",
      () =>
        setTimeout(() => {
          if (list.contains(document.activeElement)) return holdsFocus(list, render);
          deferred.delete(list);
          render();
        }, 0),
      { once: true },
    );
  }
  return true;
}

function renderStage() {
  const list = $("[data-stage]");
  if (holdsFocus(list, renderStage)) {
    $("[data-stage-count]").textContent = String(state.stage.length);
    return;
  }
  list.replaceChildren(
    ...state.stage.map((person) => {
      const item = el("li", { class: "stage-person", "data-member": person.member });
      const face = el("span", { class: "speaking-ring" }, avatar(person, "lg"));
      item.append(face, identity(person));
      const badges = el("span", { class: "stage-badges" });
      badges.append(el("span", { class: "badge badge-role", text: ROLE_LABEL[person.role] }));
      if (person.muted) badges.append(el("span", { class: "badge badge-muted", text: "Muted" }));
      item.append(badges);
      const menu = personMenu(person);
      if (menu) item.append(menu);
      return item;
    }),
  );
  $("[data-stage-count]").textContent = String(state.stage.length);
}

function renderAudience() {
  const list = $("[data-audience]");
  if (holdsFocus(list, renderAudience)) {
    $("[data-audience-count]").textContent = String(state.audience.count);
    return;
  }
  list.replaceChildren(
    ...state.audience.people.map((person) => {
      const item = el("li", { class: "audience-person", "data-member": person.member });
      item.append(avatar(person, "md"), el("a", { class: "face-name", href: person.url, text: person.name }));
      if (person.verified) item.append(el("span", { class: "badge badge-verified", title: `Verified · ${person.verified}`, text: person.verified }));
      const menu = personMenu(person);
      if (menu) item.append(menu);
      return item;
    }),
  );
  $("[data-audience-count]").textContent = String(state.audience.count);
  $("[data-audience-empty]").hidden = state.audience.count > 0;
  $("[data-audience-more]").hidden = state.audience.people.length >= state.audience.count;
}

let queueSeen = null; // members whose raised hand this moderator has been told of
const baseTitle = document.title;

function renderQueue() {
  const you = state.you;
  const section = $("[data-hand-queue-section]");
  section.hidden = !(you && you.can_moderate);
  if (section.hidden) {
    document.title = baseTitle;
    queueSeen = null;
    return;
  }
  // Moderators hear each new hand, and the tab's title counts them.
  const now = new Set(state.queue.map((p) => p.member));
  if (queueSeen !== null) {
    for (const person of state.queue) if (!queueSeen.has(person.member)) announce(`${person.name} raised a hand.`);
  }
  queueSeen = now;
  const n = state.queue.length;
  document.title = n ? `(${n} hand${n === 1 ? "" : "s"} raised) ${baseTitle}` : baseTitle;
  const list = $("[data-hand-queue]");
  // Where the keyboard was in the queue: after Approve or Dismiss that entry goes, and
  // focus moves to the entry now in its place (or the heading when the queue is empty).
  const focusedIndex = [...list.children].findIndex((li) => li.contains(document.activeElement));
  const focusedAction = focusedIndex >= 0 ? document.activeElement.dataset.action : null;
  list.replaceChildren(
    ...state.queue.map((person) => {
      const item = el("li", { class: "queue-person" });
      item.append(avatar(person, "md"), identity(person));
      item.append(
        el(
          "div",
          { class: "inline-actions" },
          el("button", { type: "button", class: "button button-primary button-small", "data-action": "speaker.promote", "data-member": person.member, text: "Approve", "aria-label": `Approve ${person.name}` }),
          el("button", { type: "button", class: "button button-ghost button-small", "data-action": "hand.dismiss", "data-member": person.member, text: "Dismiss", "aria-label": `Dismiss ${person.name}'s hand` }),
        ),
      );
      return item;
    }),
  );
  $("[data-queue-count]").textContent = String(state.queue.length);
  $("[data-queue-empty]").hidden = state.queue.length > 0;
  if (focusedIndex >= 0) {
    const item = list.children[Math.min(focusedIndex, list.children.length - 1)];
    const target = item && (item.querySelector(`[data-action="${focusedAction}"]`) || item.querySelector("button"));
    (target || $("#queue-heading")).focus();
  }
}

function renderControls() {
  const you = state.you;
  const onStage = you.role !== "listener";
  const flags = {
    listener: you.role === "listener" && !you.hand_raised && !you.invited,
    hand: you.role === "listener" && you.hand_raised,
    muted: onStage && you.muted,
    unmuted: onStage && !you.muted,
    "can-leave-stage": you.role === "speaker" || you.role === "moderator",
    host: you.is_host || you.platform,
  };
  const hadFocus = root.querySelector(".controls").contains(document.activeElement);
  for (const button of root.querySelectorAll(".controls [data-show]")) {
    button.hidden = !flags[button.dataset.show];
  }
  $("[data-invite]").hidden = !(you.role === "listener" && you.invited);
  // Raise hand becomes Lower hand, Unmute becomes Mute: the keyboard stays on the bar.
  if (hadFocus && (document.activeElement === document.body || document.activeElement.hidden)) {
    const first = [...root.querySelectorAll(".controls button, .controls summary, .controls a")].find((b) => !b.hidden);
    if (first) first.focus();
  }
}

// --- Announcements and reactions ----------------------------------------------------------

function announce(text) {
  const region = $("[data-announcer]");
  region.textContent = "";
  // A fresh text node makes screen readers speak repeated messages too.
  setTimeout(() => (region.textContent = text), 50);
  toast(text);
}

function toast(text) {
  const box = el("p", { class: "toast", text });
  document.body.append(box);
  setTimeout(() => box.remove(), 4000);
}

function announceStageChange(before, after) {
  const had = new Set(before.map((p) => p.member));
  for (const person of after) {
    if (!had.has(person.member) && person.member !== me) announce(`${person.name} joined the stage.`);
  }
}

function showReaction(event) {
  const person = [...state.stage, ...state.audience.people].find((p) => p.member === event.member);
  const bubble = el("span", { class: "reaction-bubble", text: event.emoji, title: person ? person.name : "" });
  bubble.style.left = `${10 + Math.random() * 80}%`;
  $("[data-reactions]").append(bubble);
  setTimeout(() => bubble.remove(), 2500);
}

function markSpeaking(active) {
  for (const item of root.querySelectorAll(".stage-person")) {
    item.classList.toggle("is-speaking", active.has(Number(item.dataset.member)));
  }
}

// --- Input -------------------------------------------------------------------------------

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const menu = event.target.closest && event.target.closest("details[open]");
  const open = menu || root.querySelector("details.menu[open]");
  if (!open) return;
  open.open = false;
  open.querySelector("summary").focus();
});

root.addEventListener("click", (click) => {
  const button = click.target.closest("button");
  if (!button || !root.contains(button)) return;
  if (button.dataset.ban) {
    pendingBan = Number(button.dataset.ban);
    $("[data-ban-name]").textContent = button.dataset.name;
    $("[data-ban-reason]").value = "";
    $("[data-ban-dialog]").showModal();
    return;
  }
  if (button.hasAttribute("data-end-room")) {
    $("[data-end-dialog]").showModal();
    return;
  }
  if (button.hasAttribute("data-audience-more")) {
    loadMoreAudience(button);
    return;
  }
  const action = button.dataset.action;
  if (!action) return;
  const fields = {};
  if (button.dataset.member) fields.member = Number(button.dataset.member);
  if (button.dataset.emoji) fields.emoji = button.dataset.emoji;
  send(action, fields);
  const menu = button.closest("details");
  if (menu) menu.open = false;
});

$("[data-ban-dialog]").addEventListener("close", (e) => {
  if (e.target.returnValue === "ban" && pendingBan) {
    send("member.ban", { member: pendingBan, reason: $("[data-ban-reason]").value.slice(0, 500) });
  }
  pendingBan = null;
});

$("[data-end-dialog]").addEventListener("close", (e) => {
  if (e.target.returnValue === "end") send("room.end");
});

$("[data-leave]").addEventListener("click", () => {
  state.done = true;
  if (socket) socket.close(1000);
});

async function loadMoreAudience(button) {
  button.disabled = true;
  button.textContent = "Loading…";
  try {
    const url = `${root.dataset.audienceUrl}?offset=${state.audience.people.length}`;
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    const page = await response.json();
    const known = new Set(state.audience.people.map((p) => p.member));
    state.audience.people.push(...page.people.filter((p) => !known.has(p.member)));
    state.audience.count = page.count;
    renderAudience();
  } catch {
    announce("Couldn't load more of the audience.");
  } finally {
    button.disabled = false;
    button.textContent = "Show more";
  }
}

window.addEventListener("pagehide", () => {
  state.done = true;
  if (socket) socket.close(1000);
});

connect();
