// The console's behaviour: copy and print buttons, confirm-before-click, the unread-notes
// badge and banner. No inline script anywhere (the CSP forbids it); everything is wired here.

const POLL_MS = 15000;

function wireCopy() {
  for (const btn of document.querySelectorAll("[data-copy]")) {
    btn.addEventListener("click", async () => {
      const el = document.getElementById(btn.dataset.copy);
      if (!el) return;
      try {
        await navigator.clipboard.writeText(el.textContent.trim());
        btn.dataset.done = "1";
        const done = btn.dataset.copied;
        if (done) btn.textContent = done;
      } catch {
        // Clipboard refused (no permission): select the text so Ctrl+C works.
        const range = document.createRange();
        range.selectNodeContents(el);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      }
    });
  }
  for (const btn of document.querySelectorAll("[data-print]")) {
    btn.addEventListener("click", () => window.print());
  }
}

function wireConfirm() {
  // Forms whose action has a consequence carry data-confirm: the text the user agrees to.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (ev) => {
      if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
    });
  }
}

function wireAutosubmit() {
  // A check box that is the whole form (automatic update, page on/off) saves when ticked.
  for (const form of document.querySelectorAll("form[data-autosubmit]")) {
    for (const box of form.querySelectorAll("input[type=checkbox]")) {
      box.addEventListener("change", () => form.requestSubmit());
    }
  }
}

function forgetSecrets() {
  // A password shown once leaves the page as soon as the user leaves it (also from the
  // back/forward cache, should the browser keep one despite no-store).
  window.addEventListener("pagehide", () => {
    for (const el of document.querySelectorAll("[data-secret]")) el.textContent = "";
  });
}

async function pollNotes() {
  const body = document.body;
  const known = body.dataset.unread === "" ? null : Number(body.dataset.unread);
  try {
    const res = await fetch("/notes/unread.json", { credentials: "same-origin", cache: "no-store" });
    if (!res.ok) return;
    const data = await res.json();
    const badge = document.getElementById("unread-badge");
    if (badge && typeof data.unread === "number") {
      badge.textContent = String(data.unread);
      badge.hidden = data.unread === 0;
    }
    if (known !== null && typeof data.unread === "number" && data.unread > known) {
      const banner = document.getElementById("notes-banner");
      const link = banner.querySelector("a");
      link.textContent = banner.dataset.template.replace("{n}", String(data.unread - known));
      banner.hidden = false;
      banner.dataset.count = String(data.unread - known);
    }
  } catch {
    // The console was closed or is restarting; the next poll tries again.
  }
}

function start() {
  wireCopy();
  wireConfirm();
  wireAutosubmit();
  forgetSecrets();
  const ms = Number(document.body.dataset.pollMs || POLL_MS);
  setInterval(pollNotes, ms);
}

start();
