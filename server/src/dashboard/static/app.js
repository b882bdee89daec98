// Live panels: the relay's /dashboard/events stream says which panel changed; the panel
// refetches its own fragment. No polling: without events nothing is fetched.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
  // "Copy" next to a read-only field (a member's call-sheet link).
  Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), function (b) {
    b.addEventListener("click", function () {
      var field = document.getElementById(b.getAttribute("data-copy"));
      field.select();
      if (navigator.clipboard) {
        navigator.clipboard.writeText(field.value).then(function () { b.textContent = "Copied"; });
      }
    });
  });
  // A sign-in link carries the member's key after "#key=": the browser never sends that
  // part to the relay. Fill the form with it and drop it from the address bar.
  var codeField = document.getElementById("signin-code");
  function keyFromLink() {
    if (!codeField || location.hash.indexOf("#key=") !== 0) return;
    codeField.value = decodeURIComponent(location.hash.slice(5));
    history.replaceState(null, "", location.pathname);
  }
  keyFromLink();
  // Opening the link while the sign-in page is already shown changes only the fragment.
  window.addEventListener("hashchange", keyFromLink);
  var panels = Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
  if (!panels.length || !window.EventSource) return;
  var status = document.getElementById("live-status");
  function setStatus(text, cls) {
    if (!status) return;
    status.textContent = text;
    status.className = "live " + (cls || "");
  }
  // One fetch per panel at a time; an event during a fetch queues exactly one more, so
  // the last fetch always starts after the last event and an older response never wins.
  var state = new Map();
  function st(el) {
    if (!state.has(el)) state.set(el, { inFlight: false, dirty: false, waitingBlur: false });
    return state.get(el);
  }
  function busy(el) {
    var a = document.activeElement;
    return a && el.contains(a) && /^(SELECT|INPUT|TEXTAREA)$/.test(a.tagName);
  }
  function refresh(el) {
    var s = st(el);
    if (s.inFlight) { s.dirty = true; return; }
    if (busy(el)) {
      // Someone is choosing an assignee in this panel: refresh when they leave it.
      if (!s.waitingBlur) {
        s.waitingBlur = true;
        document.activeElement.addEventListener("blur", function () {
          s.waitingBlur = false;
          refresh(el);
        }, { once: true });
      }
      return;
    }
    s.inFlight = true;
    s.dirty = false;
    fetch(el.getAttribute("data-src"), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        // Keep open what the coordinator opened (a run's history) across the refresh.
        var open = Array.prototype.map.call(el.querySelectorAll("details[open][data-key]"),
          function (d) { return d.getAttribute("data-key"); });
        el.innerHTML = html;
        open.forEach(function (k) {
          var d = el.querySelector('details[data-key="' + k + '"]');
          if (d) d.open = true;
        });
        el.setAttribute("data-refreshed", String(Date.now()));
        // The time the relay rendered, in the production's zone (never the browser's).
        var stamp = el.querySelector("[data-updated]");
        setStatus(stamp ? "live · updated " + stamp.getAttribute("data-updated") : "live", "ok");
      })
      .catch(function (e) {
        setStatus("could not refresh (" + e.message + ")", "bad");
      })
      .then(function () {
        s.inFlight = false;
        if (s.dirty) refresh(el);
      });
  }
  var es = new EventSource("/dashboard/events");
  function on(name) {
    es.addEventListener(name, function () {
      panels.forEach(function (el) {
        var wants = el.getAttribute("data-live").split(/\s+/);
        if (name === "ready" || wants.indexOf(name) >= 0) refresh(el);
      });
    });
  }
  // Every event a panel on this page asks for by name, and "ready" (refresh them all).
  var names = ["ready"];
  panels.forEach(function (el) {
    el.getAttribute("data-live").split(/\s+/).forEach(function (n) {
      if (n && names.indexOf(n) < 0) names.push(n);
    });
  });
  names.forEach(on);
  es.addEventListener("open", function () { setStatus("live", "ok"); });
  es.addEventListener("error", function () { setStatus("reconnecting…", "bad"); });
})();
