// The crew page. The personal link is /crew/#k=KEY: the key is kept on this phone (so the
// page opens from the home screen or without signal) and sent as a bearer token. The last
// sheet read is kept too, and acknowledgements made offline wait in a queue that is sent
// when the phone is back online. Nothing here trusts the page: the relay checks the key
// and writes only this member's acknowledgements.
"use strict";

const KEY = "setlink.crew.key";
const SHEET = "setlink.crew.sheet";
const SEEN = "setlink.crew.seen";
const QUEUE = "setlink.crew.pending";

const $ = (id) => document.getElementById(id);
const store = {
  get(k) { try { return JSON.parse(localStorage.getItem(k)); } catch { return null; } },
  set(k, v) { localStorage.setItem(k, JSON.stringify(v)); },
  drop(k) { localStorage.removeItem(k); },
};

function takeKeyFromLink() {
  const m = /(?:^#|&)k=([0-9a-f]+)/.exec(location.hash);
  if (m) {
    if (store.get(KEY) !== m[1]) {
      // Another link on this phone: forget the other person's sheet and queue.
      store.drop(SHEET); store.drop(SEEN); store.drop(QUEUE);
    }
    store.set(KEY, m[1]);
    // Out of the address bar (and screenshots); the page finds it again here.
    history.replaceState(null, "", location.pathname + location.search);
  }
  return store.get(KEY);
}

const key = takeKeyFromLink();
let shown = null; // the sheet on screen

function status(text, error) {
  const s = $("status");
  s.textContent = text || "";
  s.hidden = !text;
  s.classList.toggle("error", !!error);
}

function net() {
  const n = $("net");
  n.textContent = navigator.onLine ? "" : "offline";
  n.classList.toggle("offline", !navigator.onLine);
}

function pending() { return store.get(QUEUE) || []; }

function queued(day, revision, level) {
  return pending().some((p) => p.day === day && p.revision === revision && p.level === level);
}

function render(data, savedNote) {
  shown = data;
  document.title = `${data.production} — call sheet ${data.day}`;
  $("production").textContent = data.production;
  let banner = "";
  if (data.replaced && !data.confirmed_at) {
    banner = `<p id="newer-revision" class="banner" role="alert">Revision ${data.revision} replaces revision ${data.replaced} you saw. Read it again.</p>`;
  }
  $("sheet").innerHTML = banner + data.html; // server-rendered and escaped (maud)
  status(savedNote || "");
  const box = $("confirm-box");
  box.hidden = false;
  const button = $("confirm");
  const state = $("confirm-state");
  if (data.confirmed_at) {
    button.disabled = true;
    button.textContent = "Confirmed";
    state.textContent = `You confirmed revision ${data.revision} at ${data.confirmed_at}.`;
  } else if (queued(data.day, data.revision, "confirmed")) {
    button.disabled = true;
    button.textContent = "Confirmed";
    state.textContent = "Confirmed on this phone; it is sent as soon as you have signal.";
  } else {
    button.disabled = false;
    button.textContent = `Confirm my call (revision ${data.revision})`;
    state.textContent = "";
  }
}

async function api(path, init) {
  const headers = Object.assign({ Authorization: `Bearer ${key}` }, (init && init.headers) || {});
  return fetch(path, Object.assign({}, init, { headers, cache: "no-store" }));
}

async function load() {
  net();
  if (!key) {
    status("Open your personal link (from your email or the production office) to see your call sheet.", true);
    return;
  }
  let resp;
  try {
    resp = await api("/crew/api/sheet");
  } catch {
    const saved = store.get(SHEET);
    if (saved) {
      render(saved, `No signal: this is revision ${saved.revision}, saved on this phone. It updates when you are back online.`);
      acknowledge(saved, "opened");
    } else {
      status("No signal, and this phone has no call sheet saved yet. Try again when you are online.", true);
    }
    return;
  }
  const body = await resp.json().catch(() => ({ error: `the relay answered ${resp.status}` }));
  if (!resp.ok) {
    if (resp.status === 401) {
      // The link was replaced or the member revoked: nothing of theirs stays on the phone.
      store.drop(SHEET); store.drop(SEEN); store.drop(QUEUE);
      $("sheet").innerHTML = "";
      $("confirm-box").hidden = true;
    }
    status(body.error || `the relay answered ${resp.status}`, true);
    return;
  }
  // A revision newer than the one this phone last showed: said until it is confirmed.
  const seen = store.get(SEEN);
  const before = store.get(SHEET);
  if (seen && seen.day === body.day && seen.revision < body.revision) {
    body.replaced = seen.revision;
  } else if (before && before.day === body.day && before.revision === body.revision) {
    body.replaced = before.replaced;
  }
  store.set(SHEET, body);
  render(body);
  store.set(SEEN, { day: body.day, revision: body.revision });
  if (!body.opened) acknowledge(body, "opened");
}

function acknowledge(sheet, level) {
  if (!queued(sheet.day, sheet.revision, level)) {
    store.set(QUEUE, pending().concat([{ day: sheet.day, revision: sheet.revision, level }]));
  }
  return flush();
}

let flushing = false;
async function flush() {
  if (flushing || !key) return;
  flushing = true;
  try {
    for (;;) {
      const next = pending()[0];
      if (!next) break;
      let resp;
      try {
        resp = await api("/crew/api/ack", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(next),
        });
      } catch {
        break; // offline: kept for later
      }
      if (resp.status >= 500) break; // the relay's trouble: kept for later
      store.set(QUEUE, pending().slice(1));
      const body = await resp.json().catch(() => ({}));
      if (!resp.ok) {
        status(body.error || `the relay refused: ${resp.status}`, true);
      } else if (shown && shown.day === body.day && shown.revision === body.revision) {
        shown = Object.assign({}, shown, { opened: body.opened, confirmed_at: body.confirmed_at });
        store.set(SHEET, shown);
        render(shown);
      }
    }
  } finally {
    flushing = false;
  }
}

$("confirm").addEventListener("click", () => {
  if (!shown) return;
  const sheet = shown;
  const sent = acknowledge(sheet, "confirmed");
  render(sheet);
  return sent;
});

window.addEventListener("online", () => { net(); flush().then(load); });
window.addEventListener("offline", net);
document.addEventListener("visibilitychange", () => { if (!document.hidden) flush().then(load); });
// A newer revision published while the page is open shows within a minute.
setInterval(() => { if (navigator.onLine) flush().then(load); }, 60000);

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/crew/sw.js", { scope: "/crew/" }).catch(() => {});
}
load();
