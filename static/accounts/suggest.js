// Member suggestions for the speaker and co-host fields (a comma-separated list of handles):
// as the member types a name, a listbox offers members from /members/suggest/ (name,
// headline, company, verified badge); choosing one puts its handle in place of what was
// typed. The ARIA 1.2 combobox pattern: arrows move, Enter chooses, Escape closes, and a
// polite live region says how many were found. Without JavaScript the field still takes
// handles typed by hand.

const DEBOUNCE_MS = 200;

function currentToken(input) {
  const upto = input.value.slice(0, input.selectionStart ?? input.value.length);
  const start = upto.lastIndexOf(",") + 1;
  return { start, text: upto.slice(start).trim() };
}

function groupFor(input) {
  const form = input.form;
  if (!form) return "";
  const visibility = form.elements.namedItem("visibility");
  const group = form.elements.namedItem("group");
  if (!visibility || !group || visibility.value !== "group") return "";
  return group.value || "";
}

function enhance(input) {
  const url = input.dataset.suggest;
  const list = document.createElement("ul");
  const status = document.createElement("p");
  const id = `${input.id || "members"}-suggestions`;
  list.id = id;
  list.className = "suggest-list";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Suggested members");
  list.hidden = true;
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", id);
  input.autocomplete = "off";
  const wrap = document.createElement("div");
  wrap.className = "suggest";
  input.replaceWith(wrap);
  wrap.append(input, list, status);

  let timer = null;
  let controller = null;
  let options = [];
  let active = -1;

  function close() {
    list.hidden = true;
    list.replaceChildren();
    options = [];
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    options.forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
    active = index;
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", options[index].id);
      options[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function choose(member) {
    const { start } = currentToken(input);
    const end = input.value.indexOf(",", input.selectionStart ?? input.value.length);
    const before = input.value.slice(0, start).replace(/\s*$/, start ? " " : "");
    const after = end === -1 ? "" : input.value.slice(end + 1).trimStart();
    input.value = `${before}${member.handle}, ${after}`;
    const caret = before.length + member.handle.length + 2;
    input.setSelectionRange(caret, caret);
    status.textContent = `${member.name} added.`;
    close();
    input.focus();
  }

  function show(members) {
    close();
    if (!members.length) {
      status.textContent = "No members found.";
      return;
    }
    members.forEach((member, i) => {
      const li = document.createElement("li");
      li.id = `${id}-${i}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      const name = document.createElement("strong");
      name.textContent = member.name;
      li.append(name);
      if (member.verified_domain) {
        const badge = document.createElement("span");
        badge.className = "badge badge-verified";
        badge.textContent = `Verified · ${member.verified_domain}`;
        li.append(" ", badge);
      }
      const about = [member.headline, member.company].filter(Boolean).join(" · ");
      if (about) {
        const line = document.createElement("span");
        line.className = "suggest-about";
        line.textContent = about;
        li.append(line);
      }
      li.addEventListener("mousedown", (event) => {
        event.preventDefault(); // keep focus in the field
        choose(member);
      });
      li.member = member;
      list.append(li);
      options.push(li);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    status.textContent = `${members.length} member${members.length === 1 ? "" : "s"} found. Use the arrow keys to choose.`;
  }

  async function search() {
    const { text } = currentToken(input);
    if (text.length < 2) {
      close();
      return;
    }
    controller?.abort();
    controller = new AbortController();
    const params = new URLSearchParams({ q: text });
    const group = groupFor(input);
    if (group) params.set("group", group);
    status.textContent = "Searching…";
    try {
      const response = await fetch(`${url}?${params}`, {
        headers: { Accept: "application/json" },
        signal: controller.signal,
      });
      const body = await response.json();
      if (!response.ok) {
        close();
        status.textContent = body.error || "Suggestions aren't available right now.";
        return;
      }
      show(body.members);
    } catch (error) {
      if (error.name !== "AbortError") {
        close();
        status.textContent = "Suggestions aren't available right now.";
      }
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, DEBOUNCE_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      highlight((active + 1) % options.length);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      highlight(active <= 0 ? options.length - 1 : active - 1);
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault(); // choose, don't submit the form
      choose(options[active].member);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 100));
}

document.querySelectorAll("input[data-suggest]").forEach(enhance);
