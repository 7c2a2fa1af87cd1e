// People in a room, rendered: faces, professional identity, and the actions menu on each.
// The menu shows only what the server's permission table allows; the server decides.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role") {
      node.setAttribute(key, value === true ? "" : value);
    } else node[key] = value;
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

export function avatar(person, size) {
  if (person.avatar) {
    return el("img", { class: `avatar avatar-${size}`, src: person.avatar, alt: "" });
  }
  return el("span", { class: `avatar avatar-${size} avatar-initials`, "aria-hidden": "true", text: person.initials });
}

export function identity(person) {
  const box = el("span", { class: "identity" });
  box.append(el("a", { class: "identity-name", href: person.url, text: person.name }));
  if (person.verified) {
    box.append(el("span", { class: "badge badge-verified", text: `Verified · ${person.verified}` }));
  }
  const line = [person.headline, person.company].filter(Boolean).join(" · ");
  if (line) box.append(el("span", { class: "identity-headline", text: line }));
  return box;
}

export const ROLE_LABEL = { host: "Host", moderator: "Moderator", speaker: "Speaker", listener: "Listener" };

function can(viewer, action, target) {
  // The server's table (rooms/permissions.py) decides which buttons to show; the server decides.
  const { you, me, rules: table } = viewer;
  if (!you || !you.can_moderate || target.member === me) return false;
  const mine = you.is_host ? "host" : you.role === "moderator" ? "moderator" : "platform";
  const rules = table[action] || {};
  const role = target.role || "listener";
  return (rules[mine] || []).includes(role) || (you.platform && (rules.platform || []).includes(role));
}

// The actions menu on a person, as `viewer` ({you, me, roomId, rules}) may use it.
export function personMenu(person, viewer) {
  const { me, roomId } = viewer;
  const items = [];
  const add = (label, action, extra = {}) =>
    items.push(el("button", { type: "button", class: "menu-button", "data-action": action, "data-member": person.member, text: label, ...extra }));
  if (person.role && person.role !== "listener" && can(viewer, "mute", person) && !person.muted) add("Mute", "mute");
  if (can(viewer, "speaker.demote", person) && person.role && person.role !== "listener") add("Move to audience", "speaker.demote");
  if (!person.role && can(viewer, "speaker.invite", person)) add("Invite to speak", "speaker.invite");
  if (can(viewer, "moderator.add", person) && person.role !== "moderator") add("Make moderator", "moderator.add");
  if (can(viewer, "moderator.remove", person)) add("Remove as moderator", "moderator.remove");
  if (can(viewer, "member.remove", person)) {
    add("Remove from room", "member.remove");
    items.push(el("button", { type: "button", class: "menu-button danger", "data-ban": person.member, "data-name": person.name, text: "Ban from room" }));
  }
  if (person.member !== me) {
    // A new tab, so that reporting doesn't take the reporter out of the room.
    items.push(
      el("a", {
        class: "menu-button",
        href: `/report/?member=${encodeURIComponent(person.handle)}&room=${roomId}`,
        target: "_blank",
        rel: "noopener",
        text: "Report…",
      }),
    );
  }
  if (!items.length) return null;
  const menu = el("details", { class: "menu person-menu" });
  menu.append(el("summary", { class: "button button-ghost button-small", "aria-label": `Actions for ${person.name}`, text: "•••" }));
  menu.append(el("div", { class: "menu-panel" }, ...items));
  return menu;
}
