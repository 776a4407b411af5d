// The Status page keeps itself current: counts and the heartbeat's age are updated in place
// every few seconds, and the page reloads when the service starts or stops elsewhere (the
// CLI, another console) or a publish starts or ends.

const EVERY_MS = Math.min(5000, Number(document.body.dataset.pollMs || 15000));

function setText(id, value) {
  const el = document.getElementById(id);
  if (el && value !== null && value !== undefined) el.textContent = String(value);
}

let sending = false;

async function refresh() {
  if (sending) return;
  try {
    const res = await fetch("/status.json", { credentials: "same-origin", cache: "no-store" });
    if (!res.ok) return;
    const s = await res.json();
    const state = document.getElementById("service-state");
    const summary = document.getElementById("publish-summary");
    const shownJob = summary ? summary.dataset.job : "";
    const job = s.current ? s.current.id : "";
    // Not over the steps an install or uninstall left to run by hand: they are shown once,
    // and a reload would take them away before they were read.
    const oneTime = document.getElementById("steps");
    if (sending) return;  // a form was sent while this poll was on its way
    if (!oneTime && ((state && state.dataset.state !== s.service) || job !== shownJob)) {
      window.location.reload();
      return;
    }
    const age = document.getElementById("beat-age");
    if (age && s.beat_age !== null) age.textContent = age.dataset.template.replace("{n}", String(s.beat_age));
    setText("waiting-count", s.waiting);
    setText("failed-count", s.failed);
    setText("unread-count", s.unread);
  } catch {
    // the console is restarting or closed; try again on the next tick
  }
}

// Once a form is sent (Start, Stop, Publish ...) its answer replaces the page: a reload now
// would cancel that request and the click would be lost.
document.addEventListener("submit", () => { sending = true; });

setInterval(refresh, EVERY_MS);
