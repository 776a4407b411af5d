// The Publishing page: follow the publishing job live. The job runs in a process of its
// own and writes its progress into the clinic home; this script only reads it back through
// /publishing/job.json, so a reload (or a console restarted meanwhile) picks it up again.
// When a job starts or ends, the page reloads to show the new upload list, log and summary.

const ACTIVE_MS = 1000;  // while a job runs
const IDLE_MS = 5000;    // otherwise: notice a job started from a command line or another window

function show(el, on) {
  if (el) el.hidden = !on;
}

function render(job) {
  // Every text comes from the server in the page's language; only numbers move here.
  const bar = document.getElementById("job-progress");
  if (bar) {
    bar.max = job.total || 1;
    bar.value = job.total ? job.done : 0;
  }
  const counts = document.getElementById("job-counts");
  if (counts) {
    counts.textContent = job.counts_text;
    show(counts, job.total > 0);
  }
  const phase = document.getElementById("job-phase");
  if (phase) phase.textContent = "· " + job.phase_text;
  const state = document.getElementById("job-state");
  if (state) state.textContent = job.state_text;
  const rate = document.getElementById("job-rate");
  if (rate) rate.textContent = job.rate_text;
  const eta = document.getElementById("job-eta");
  if (eta) eta.textContent = job.eta_text;
  show(document.getElementById("job-speed"), job.active && job.rate > 0);
  const waiting = document.getElementById("queue-live");
  if (waiting && job.waiting_text) {
    waiting.textContent = job.waiting_text;
    waiting.hidden = false;
  }
}

function start() {
  const box = document.getElementById("job");
  const data = document.getElementById("job-data");
  if (!box || !data) return;
  const first = JSON.parse(data.textContent);
  const seen = { id: first ? first.id : null, active: first ? first.active : false };

  async function poll() {
    let job = null;
    try {
      const res = await fetch(box.dataset.url, { credentials: "same-origin", cache: "no-store" });
      if (!res.ok) throw new Error(String(res.status));
      job = await res.json();
    } catch {
      // The console is restarting or was closed: try again later, the job itself goes on.
      setTimeout(poll, IDLE_MS);
      return;
    }
    if (job && (job.id !== seen.id || job.active !== seen.active)) {
      window.location.reload();
      return;
    }
    if (job && job.active) render(job);
    setTimeout(poll, job && job.active ? ACTIVE_MS : IDLE_MS);
  }

  setTimeout(poll, seen.active ? ACTIVE_MS : IDLE_MS);
}

start();
