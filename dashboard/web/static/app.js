// aegir dashboard: live task status, log tail and queue pass progress.
// Everything works without this file; it only saves reloads. No inline
// scripts (CSP script-src 'self').
(function () {
  "use strict";

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); });
  }

  function setBadge(el, status) {
    el.textContent = status;
    el.className = el.className.replace(/\bb-[a-z-]+/, "b-" + status);
    el.setAttribute("data-status", status);
  }

  function isDone(s) { return s === "succeeded" || s === "failed" || s === "cancelled"; }

  // Badges of queued or running tasks follow their task; with data-reload
  // the page reloads when the task ends (to show what it changed).
  function followBadges() {
    var els = document.querySelectorAll("[data-live-task]");
    if (!els.length) return;
    var pending = Array.prototype.slice.call(els);
    function tick() {
      var left = [];
      var reqs = pending.map(function (el) {
        return getJSON("/live/tasks/" + encodeURIComponent(el.getAttribute("data-live-task"))).then(function (t) {
          setBadge(el, t.status);
          if (isDone(t.status)) {
            if (el.hasAttribute("data-reload")) { window.location.reload(); }
          } else { left.push(el); }
        }, function () { left.push(el); });
      });
      Promise.all(reqs).then(function () { pending = left; if (pending.length) setTimeout(tick, 1500); });
    }
    setTimeout(tick, 1000);
  }

  // The task page's log follows the running task over server-sent events,
  // resuming after the last line the server rendered.
  function followLog() {
    var log = document.getElementById("log");
    if (!log || log.getAttribute("data-done") === "1" || !window.EventSource) return;
    var id = log.getAttribute("data-task");
    var after = log.getAttribute("data-after") || "";
    var dot = document.getElementById("live-dot");
    var hint = document.getElementById("log-hint");
    if (dot) dot.hidden = false;
    if (hint) hint.hidden = true;
    var url = "/live/tasks/" + encodeURIComponent(id) + "/log?follow=1" + (after ? "&after=" + encodeURIComponent(after) : "");
    var es = new EventSource(url);
    var status = document.getElementById("task-status");
    es.onmessage = function (ev) {
      var line;
      try { line = JSON.parse(ev.data); } catch (e) { return; }
      var div = document.createElement("div");
      div.className = "ln streamed l-" + (line.level || "info");
      var ts = document.createElement("span");
      ts.className = "ts";
      ts.textContent = (line.time || "").slice(11, 19);
      div.appendChild(ts);
      div.appendChild(document.createTextNode(" " + line.msg));
      var atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
      log.appendChild(div);
      if (atBottom) log.scrollTop = log.scrollHeight;
      if (status && status.getAttribute("data-status") === "queued") setBadge(status, "running");
    };
    es.addEventListener("end", function () {
      es.close();
      if (dot) dot.hidden = true;
      log.setAttribute("data-done", "1");
      var cancel = document.getElementById("cancel-form");
      if (cancel) cancel.hidden = true;
      getJSON("/live/tasks/" + encodeURIComponent(id)).then(function (t) {
        if (status) setBadge(status, t.status);
        // Reload once to show the explanation, fix hint or summary.
        setTimeout(function () { window.location.reload(); }, 600);
      });
    });
    es.onerror = function () {
      // The browser reconnects with Last-Event-ID; if the session ended the
      // stream answers 401 and the browser gives up.
      if (es.readyState === EventSource.CLOSED && dot) dot.hidden = true;
    };
  }

  // A running queue pass shows its progress; the page reloads when it
  // ends, to show the outcome.
  function followPasses() {
    var els = document.querySelectorAll("[data-live-pass]");
    Array.prototype.forEach.call(els, function (el) {
      var bar = el.querySelector("progress");
      var text = el.querySelector("[data-pass-progress]");
      function tick() {
        getJSON(el.getAttribute("data-live-pass")).then(function (p) {
          if (p.state !== "running") { window.location.reload(); return; }
          if (bar) { bar.max = p.due || 1; bar.value = p.done; }
          if (text) {
            text.textContent = p.done + " of " + p.due + " sites: " + p.succeeded + " ok, " + p.failed + " failed, " + p.skipped + " skipped";
          }
          setTimeout(tick, 2000);
        }, function () { setTimeout(tick, 5000); });
      }
      setTimeout(tick, 1000);
    });
  }

  // "Type the name to confirm" buttons stay disabled until it matches. The
  // server checks it again.
  function confirmFields() {
    var inputs = document.querySelectorAll("input[data-confirm]");
    Array.prototype.forEach.call(inputs, function (input) {
      var btn = input.form && input.form.querySelector("button[type=submit]");
      if (!btn) return;
      var check = function () { btn.disabled = input.value.trim() !== input.getAttribute("data-confirm"); };
      input.addEventListener("input", check);
      check();
    });
  }

  // The import form sends the archive itself as the body (the server
  // streams it to disk; a multipart form would be parsed in memory), with
  // the other fields in the query and the CSRF token in a header. The
  // server answers with a redirect to the task, or back here with the
  // reason in a flash.
  function importArchive() {
    var form = document.getElementById("site-import");
    if (!form || !window.fetch) return;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var file = form.querySelector("input[type=file]").files[0];
      if (!file) return;
      var q = new URLSearchParams();
      ["domain", "platform_id", "db_server_id", "client_id"].forEach(function (n) {
        var el = form.elements[n];
        if (el && el.value) q.set(n, el.value.trim());
      });
      q.set("back", "/sites/new");
      var btn = form.querySelector("button[type=submit]");
      var note = document.getElementById("import-progress");
      btn.disabled = true;
      if (note) note.hidden = false;
      fetch(form.getAttribute("action") + "?" + q.toString(), {
        method: "POST", credentials: "same-origin", body: file,
        headers: { "X-CSRF-Token": form.getAttribute("data-csrf"), "Content-Type": "application/octet-stream" }
      }).then(function (r) { window.location = r.url; }, function (err) {
        btn.disabled = false;
        if (note) note.textContent = "upload failed: " + err;
      });
    });
  }

  // A running task's "Running for" ticks every second until its log ends
  // (then the page reloads with the final figure).
  function tickTook() {
    var el = document.getElementById("took");
    if (!el || !el.hasAttribute("data-since")) return;
    var since = parseInt(el.getAttribute("data-since"), 10);
    var log = document.getElementById("log");
    if (!since) return;
    function fmt(ms) {
      var s = Math.max(0, Math.floor(ms / 1000));
      var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
      s = s % 60;
      return (h ? h + "h" : "") + (h || m ? m + "m" : "") + s + "s";
    }
    var timer = setInterval(function () {
      if (log && log.getAttribute("data-done") === "1") { clearInterval(timer); return; }
      el.textContent = fmt(Date.now() - since);
    }, 1000);
  }

  // Forms marked data-ask ask a plain yes or no before they post (a
  // disable, a migrate: undone by the opposite task, so nothing to type).
  function askFirst() {
    var forms = document.querySelectorAll("form[data-ask]");
    Array.prototype.forEach.call(forms, function (f) {
      f.addEventListener("submit", function (ev) {
        if (!window.confirm(f.getAttribute("data-ask"))) ev.preventDefault();
      });
    });
  }

  function selectSecret() {
    var s = document.getElementById("token-secret");
    if (s) { s.addEventListener("focus", function () { s.select(); }); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    followBadges();
    followLog();
    followPasses();
    confirmFields();
    importArchive();
    askFirst();
    tickTook();
    selectSecret();
  });
})();
