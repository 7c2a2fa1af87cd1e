// The live room's recording and captions: the Recording indicator, the speaker's consent,
// the host's switches and the captions panel. The server decides (rooms/services/recording.py):
// this module shows its state and sends the member's answers.

import { el } from "./people.js";

const STATE_TEXT = {
  on: "Recording",
  paused: "Recording paused: off the record",
};
const CHANGE_TEXT = {
  "off>on": "Recording started. This room is being recorded.",
  "on>paused": "Recording paused: you're off the record.",
  "paused>on": "Recording resumed.",
};
const MAX_LINES = 3; // captions on screen: the latest few lines
const PREFERENCE = "podium.captions"; // each viewer shows or hides captions

export function createRecording({ root, send, announce, nameOf }) {
  const $ = (selector) => root.querySelector(selector);
  const indicator = $("[data-recording]");
  const consent = $("[data-consent]");
  const ccButton = $("[data-cc]");
  const panel = $("[data-captions-section]");
  const lines = $("[data-captions]");
  let state = { state: "off", captions: false };
  let you = null;
  let joining = true;
  let inviteWaiting = false; // the member chose to join the stage: consent first
  let shown = localStorage.getItem(PREFERENCE) !== "hidden";
  const partial = new Map(); // member -> their line being spoken

  const onAir = () => state.state === "on" || state.state === "paused";
  const consentWanted = () =>
    onAir() && you && !you.is_host && you.role !== "listener" && you.consent !== "agreed";

  function apply(next, { note = "" } = {}) {
    const before = state.state;
    state = { state: next.state, captions: next.captions };
    indicator.hidden = !onAir();
    indicator.dataset.state = state.state;
    $("[data-recording-text]").textContent = STATE_TEXT[state.state] || "";
    if (joining) {
      joining = false;
      if (onAir()) announce("This room is being recorded.");
    } else if (before !== state.state && CHANGE_TEXT[`${before}>${state.state}`]) {
      announce(CHANGE_TEXT[`${before}>${state.state}`]);
    }
    if (note) announce(note);
    if (!state.captions) {
      partial.clear();
      lines.replaceChildren();
    }
    render();
  }

  function setYou(next) {
    you = next;
    if (you.role !== "listener" || !you.invited) inviteWaiting = inviteWaiting && you.invited;
    render();
  }

  function render() {
    const wanted = consentWanted() || (inviteWaiting && onAir());
    const wasHidden = consent.hidden;
    consent.hidden = !wanted;
    if (wanted && wasHidden) consent.querySelector("button").focus();
    ccButton.hidden = !state.captions;
    ccButton.setAttribute("aria-pressed", String(shown));
    panel.hidden = !(state.captions && shown);
    const host = Boolean(you && you.is_host);
    const captioner = Boolean(you && (you.role === "host" || you.role === "moderator"));
    const menu = $("[data-record-menu]");
    menu.hidden = !(host || captioner);
    const flags = {
      off: host && state.state === "off",
      on: host && state.state === "on",
      paused: host && state.state === "paused",
      "captions-off": captioner && !state.captions,
      "captions-on": captioner && state.captions,
    };
    for (const item of menu.querySelectorAll("[data-record-show]")) item.hidden = !flags[item.dataset.recordShow];
  }

  // What the caption worker heard: a final line stays; each speaker's partial one is
  // replaced by the next. Only the latest few are kept on screen.
  function captions(incoming) {
    if (!state.captions) return;
    for (const line of incoming) {
      const text = line.text.trim();
      if (!text) continue;
      let item = partial.get(line.member);
      if (!item) {
        item = el("li", {}, el("span", { class: "caption-name", text: `${nameOf(line.member)}:` }), el("span", { class: "caption-text" }));
        lines.append(item);
      }
      item.querySelector(".caption-text").textContent = text;
      item.dataset.final = String(line.final);
      if (line.final) partial.delete(line.member);
      else partial.set(line.member, item);
    }
    while (lines.children.length > MAX_LINES) {
      const first = lines.firstElementChild;
      for (const [member, item] of partial) if (item === first) partial.delete(member);
      first.remove();
    }
    $("[data-captions-idle]").hidden = lines.children.length > 0;
  }

  ccButton.addEventListener("click", () => {
    shown = !shown;
    localStorage.setItem(PREFERENCE, shown ? "shown" : "hidden");
    announce(shown ? "Captions shown." : "Captions hidden.");
    render();
  });

  // Joining the stage of a recorded room, or unmuting there, asks for consent first.
  root.addEventListener(
    "click",
    (click) => {
      const button = click.target.closest("button");
      if (!button) return;
      const action = button.dataset.action;
      if (action === "invite.accept" && onAir()) {
        click.stopPropagation();
        inviteWaiting = true;
        render();
      } else if (action === "unmute.self" && consentWanted()) {
        click.stopPropagation();
        consent.hidden = false;
        consent.querySelector("button").focus();
      } else if (button.dataset.captionsSet) {
        click.stopPropagation();
        send("captions.set", { on: button.dataset.captionsSet === "true" });
        const menu = button.closest("details");
        if (menu) menu.open = false;
      } else if (button.dataset.consentAnswer) {
        click.stopPropagation();
        const agree = button.dataset.consentAnswer === "true";
        send("recording.consent", { agree });
        if (inviteWaiting) send(agree ? "invite.accept" : "invite.decline");
        inviteWaiting = false;
        consent.hidden = true;
        announce(agree ? "Thanks. You can unmute when you're ready." : "You stay in the audience.");
      }
    },
    { capture: true },
  );

  return {
    apply,
    setYou,
    captions,
    stop() {
      panel.hidden = true;
      consent.hidden = true;
    },
  };
}
