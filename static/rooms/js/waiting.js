// A scheduled room's page: ask every few seconds whether the host has gone live, and join
// by itself when they have (the page is loaded again, live). Slower while the tab is
// hidden; says so if it can't ask.

const box = document.querySelector("[data-waiting]");
const status = box && box.querySelector("[data-waiting-status]");
const EVERY_MS = 4000;
const HIDDEN_MS = 15000;

async function check() {
  try {
    const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (response.ok) {
      const body = await response.json();
      if (body.status !== "scheduled") {
        status.textContent = body.status === "live" ? "The host is live. Joining…" : "This room has ended.";
        window.location.reload();
        return;
      }
      status.textContent = "Waiting for the host…";
    } else {
      status.textContent = "Can't check right now; trying again…";
    }
  } catch {
    status.textContent = "Offline? Trying again…";
  }
  setTimeout(check, document.hidden ? HIDDEN_MS : EVERY_MS);
}

if (box) setTimeout(check, EVERY_MS);
