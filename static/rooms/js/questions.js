// The room's audience questions: ask (up to 280 characters), vote once for each other
// question, withdraw your own; moderators invite the asker on stage, mark it answered or
// remove it. The server ranks the list and decides who may do what; this renders it.
// Items are updated in place, keyed by question id, so a keyboard user keeps focus on the
// button they were on while votes reorder the list.

import { el } from "./people.js";

const MAX = 280;

export function createQuestions({ root, send, announce, me, roomId }) {
  const section = root.querySelector("[data-questions-section]");
  const list = section.querySelector("[data-questions]");
  const form = section.querySelector("[data-question-form]");
  const text = section.querySelector("[data-question-text]");
  const left = section.querySelector("[data-question-left]");
  const items = new Map(); // question id -> its <li>
  let you = null;
  let pending = null; // the text we asked, until it shows in the list
  let seen = null; // question ids already shown (null until the first list)

  function updateLeft() {
    const remaining = MAX - text.value.length;
    left.textContent = `${remaining} character${remaining === 1 ? "" : "s"} left`;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (!value) {
      announce("Write your question first.");
      text.focus();
      return;
    }
    if (send("question.ask", { text: value.slice(0, MAX) })) pending = value;
  });
  text.addEventListener("input", updateLeft);
  updateLeft();

  list.addEventListener("click", (click) => {
    const button = click.target.closest("button[data-q-action]");
    if (!button) return;
    const item = button.closest("li");
    const id = Number(item.dataset.question);
    const action = button.dataset.qAction;
    if (action === "speaker.invite") {
      // Bringing the asker on stage asks them first, as any invitation does.
      if (send("speaker.invite", { member: Number(item.dataset.member) })) {
        announce(`Invitation sent to ${item.dataset.name}.`);
      }
      return;
    }
    if (action === "vote") {
      send(button.getAttribute("aria-pressed") === "true" ? "question.unvote" : "question.vote", { question: id });
      return;
    }
    send(action, { question: id });
    // The item will move or go: keep the keyboard on the list, at the next question.
    const next = item.nextElementSibling || item.previousElementSibling;
    const target = next && next.querySelector("button");
    if (target) target.focus();
    else text.focus();
  });

  function render(item, question, voted) {
    const mine = question.member === me;
    item.dataset.member = String(question.member);
    item.dataset.name = question.name;
    item.classList.toggle("is-answered", question.answered);
    const who = el("p", { class: "question-who" }, el("strong", { text: question.name }));
    if (question.verified) who.append(" ", el("span", { class: "badge badge-verified", text: `Verified · ${question.verified}` }));
    const about = [question.headline, question.company].filter(Boolean).join(" · ");
    if (about) who.append(el("span", { class: "identity-headline", text: about }));
    const body = el("p", { class: "question-text", text: question.text });
    const state = question.answered ? el("span", { class: "pill", text: "Answered" }) : null;
    const votes = `${question.votes} vote${question.votes === 1 ? "" : "s"}`;
    let vote;
    if (mine) {
      vote = el("span", { class: "question-votes", text: votes });
    } else {
      vote = el(
        "button",
        {
          type: "button",
          class: "button button-ghost button-small question-vote",
          "data-q-action": "vote",
          "aria-pressed": voted ? "true" : "false",
        },
        // The name starts with what the button does and ends with what it shows.
        el("span", { class: "visually-hidden", text: `${voted ? "Remove your vote" : "Upvote"}: ${question.text.slice(0, 80)}, ` }),
        el("span", { "aria-hidden": "true", text: "▲ " }),
        String(question.votes),
        el("span", { class: "visually-hidden", text: ` vote${question.votes === 1 ? "" : "s"}` }),
      );
    }
    const actions = el("div", { class: "inline-actions" });
    if (you && you.can_moderate) {
      if (!question.answered) {
        actions.append(
          el("button", { type: "button", class: "button button-primary button-small", "data-q-action": "speaker.invite", text: "Invite to speak", "aria-label": `Invite to speak: ${question.name}` }),
          el("button", { type: "button", class: "button button-ghost button-small", "data-q-action": "question.answer", text: "Mark answered" }),
        );
      }
      actions.append(el("button", { type: "button", class: "button button-ghost button-small", "data-q-action": "question.remove", text: "Remove" }));
    } else if (mine) {
      actions.append(el("button", { type: "button", class: "button button-ghost button-small", "data-q-action": "question.withdraw", text: "Withdraw" }));
    }
    if (!mine) {
      const params = new URLSearchParams({ member: question.handle, room: String(roomId), question: String(question.id) });
      actions.append(el("a", { class: "button button-ghost button-small", href: `/report/?${params}`, text: "Report", "aria-label": `Report ${question.name}'s question` }));
    }
    // Replace the contents, keeping the focused control if it is still wanted.
    const focused = item.contains(document.activeElement) ? document.activeElement.dataset.qAction : null;
    item.replaceChildren(el("div", { class: "question-vote-box" }, vote), el("div", { class: "question-main" }, who, body, state, actions));
    if (focused) {
      const again = item.querySelector(`[data-q-action="${focused}"]`);
      if (again) again.focus();
    }
  }

  function apply(questions, voted) {
    const votedSet = new Set(voted);
    const wanted = new Set(questions.map((q) => q.id));
    for (const [id, item] of items) {
      if (!wanted.has(id)) {
        item.remove();
        items.delete(id);
      }
    }
    const focused = document.activeElement;
    questions.forEach((question, index) => {
      let item = items.get(question.id);
      if (!item) {
        item = el("li", { class: "question", "data-question": String(question.id) });
        items.set(question.id, item);
      }
      render(item, question, votedSet.has(question.id));
      if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
    });
    if (focused && list.contains(focused) && document.activeElement !== focused) focused.focus();
    section.querySelector("[data-questions-count]").textContent = String(questions.filter((q) => !q.answered).length);
    section.querySelector("[data-questions-empty]").hidden = questions.length > 0;
    if (pending !== null) {
      const mine = questions.find((q) => q.member === me && q.text === pending);
      if (mine) {
        pending = null;
        text.value = "";
        updateLeft();
        announce("Your question is posted.");
      }
    }
    if (seen !== null && you && you.can_moderate) {
      for (const question of questions) {
        if (!seen.has(question.id) && question.member !== me) announce(`New question from ${question.name}.`);
      }
    }
    seen = wanted;
  }

  return {
    apply,
    setYou(value) {
      you = value;
    },
    refused() {
      pending = null;
    },
  };
}
