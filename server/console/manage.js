// Wisp console: login, accounts, dialogs and the actions outside a
// stream's page (stream.js has that page). console.js calls WispManage with
// its helpers. Every request that changes something carries the session's
// CSRF token; the server decides what the user may do, the page only hides
// buttons the user could not use. Values from the server are written with
// textContent, never as HTML.
"use strict";

window.WispManage = (h) => {
  const { $, el, fmtInt } = h;

  let session = null; // what GET /console/api/session answered
  let account = null; // the account the pages show

  // ---- requests -------------------------------------------------------------

  async function call(method, path, body) {
    const opts = { method, cache: "no-store", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-Wisp-CSRF"] = session ? session.csrf : "";
      opts.body = JSON.stringify(body === undefined ? {} : body);
    }
    const r = await fetch(path, opts);
    let b = null;
    try { b = await r.json(); } catch (_) { /* not JSON */ }
    if (r.status === 401 && path !== "/console/api/login") showLogin();
    return { status: r.status, ok: r.ok, body: b };
  }

  // jsIn makes a JetStream API request in acc; an API error is thrown with
  // its description and code.
  async function jsIn(acc, api, body) {
    const r = await call("POST", "/console/api/js", { account: acc, api, body });
    if (!r.ok) throw new Error((r.body && r.body.error) || "HTTP " + r.status);
    if (r.body && r.body.error) throw new Error(r.body.error.description + " (" + r.body.error.err_code + ")");
    return r.body;
  }

  const mayAct = () => Boolean(session && session.role === "operator");

  // ---- session and login ------------------------------------------------------

  function showLogin() {
    session = null;
    document.body.classList.add("locked");
    $("login").hidden = false;
    $("who").hidden = true;
    setTimeout(() => $("login-user").focus(), 0);
  }

  function setSession(s) {
    session = s;
    document.body.classList.remove("locked");
    $("login").hidden = true;
    const saved = sessionStorage.getItem("wisp.account");
    const visible = s.visible_accounts || [s.account];
    account = visible.includes(saved) ? saved : s.account;
    const pick = $("account-pick");
    pick.replaceChildren(...visible.map((a) => { const o = el("option", "", a); o.value = a; return o; }));
    pick.value = account;
    $("account-field").hidden = visible.length < 2;
    $("who-account").hidden = visible.length >= 2;
    $("who-account").textContent = account;
    $("who-user").textContent = s.user || (s.login_required ? "token" : "no login");
    $("who-role").textContent = s.role;
    $("logout").hidden = !s.login_required;
    $("who").hidden = false;
    document.body.classList.toggle("can-act", mayAct());
  }

  async function loadSession() {
    const r = await call("GET", "/console/api/session");
    if (r.ok && r.body) { setSession(r.body); return true; }
    if (r.status !== 401) setTimeout(loadSession, 3000); // the server may be restarting
    return false;
  }

  async function login(ev) {
    ev.preventDefault();
    const err = $("login-error");
    err.hidden = true;
    $("login-submit").disabled = true;
    try {
      const r = await call("POST", "/console/api/login", { user: $("login-user").value, password: $("login-password").value });
      if (!r.ok) throw new Error((r.body && r.body.error) || "HTTP " + r.status);
      $("login-password").value = "";
      setSession(r.body);
      h.route();
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    } finally {
      $("login-submit").disabled = false;
    }
  }

  async function logout() {
    await call("POST", "/console/api/logout");
    location.hash = "#/overview";
    location.reload();
  }

  // ---- dialogs ----------------------------------------------------------------

  // confirmAction asks before something that destroys data.
  function confirmAction(title, text, okLabel) {
    return new Promise((resolve) => {
      const d = $("confirm");
      $("confirm-title").textContent = title;
      $("confirm-text").textContent = text;
      $("confirm-ok").textContent = okLabel || "Confirm";
      d.returnValue = "";
      d.onclose = () => resolve(d.returnValue === "ok");
      d.showModal();
    });
  }

  // openForm shows fields and runs submit(values) on OK: it closes when
  // submit returns nothing, shows what it returns otherwise, and shows a
  // thrown error without closing.
  function openForm(title, fields, okLabel, submit) {
    const d = $("form-dialog");
    $("form-title").textContent = title;
    $("form-error").hidden = true;
    $("form-result").hidden = true;
    $("form-ok").textContent = okLabel;
    const box = $("form-fields");
    box.replaceChildren();
    for (const f of fields) {
      const label = el("label", f.type === "checkbox" ? "check" : "", f.label);
      let input;
      if (f.type === "textarea") {
        input = el("textarea");
        input.rows = f.rows || 4;
      } else if (f.type === "select") {
        input = el("select");
        for (const o of f.options) { const opt = el("option", "", o); opt.value = o; input.appendChild(opt); }
      } else {
        input = el("input");
        input.type = f.type || "text";
      }
      input.id = "f-" + f.name;
      input.spellcheck = false;
      if (f.placeholder) input.placeholder = f.placeholder;
      if (f.type === "checkbox") input.checked = Boolean(f.value);
      else if (f.value !== undefined && f.value !== null) input.value = f.value;
      if (f.type === "checkbox") label.prepend(input); else label.appendChild(input);
      if (f.hint) label.appendChild(el("span", "hint", f.hint));
      box.appendChild(label);
    }
    $("form-ok").onclick = async (ev) => {
      ev.preventDefault();
      const values = {};
      for (const f of fields) {
        const input = $("f-" + f.name);
        values[f.name] = f.type === "checkbox" ? input.checked : input.value.trim();
      }
      $("form-error").hidden = true;
      $("form-ok").disabled = true;
      try {
        const result = await submit(values);
        if (result === undefined) d.close("ok");
        else { $("form-result").textContent = result; $("form-result").hidden = false; }
      } catch (e) {
        $("form-error").textContent = e.message;
        $("form-error").hidden = false;
      } finally {
        $("form-ok").disabled = false;
      }
    };
    d.showModal();
    const first = box.querySelector("input, textarea, select");
    if (first) first.focus();
  }

  // ---- forms: values the API wants -------------------------------------------

  const intOrZero = (v) => (v === "" ? 0 : Number.parseInt(v, 10) || 0);
  const list = (v) => v.split(/[\s,]+/).filter(Boolean);

  // durationNs reads "90s", "15m", "2h", "7d" or a plain number of seconds.
  function durationNs(v) {
    if (v === "" || v === "0") return 0;
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(v);
    if (!m) throw new Error(`"${v}" is not a duration like 90s, 15m, 2h or 7d`);
    const unit = { ms: 1e6, s: 1e9, m: 60e9, h: 3600e9, d: 86400e9 }[m[2] || "s"];
    return Math.round(Number(m[1]) * unit);
  }

  function fmtNs(ns) {
    if (!ns) return "";
    for (const [u, n] of [["d", 86400e9], ["h", 3600e9], ["m", 60e9], ["s", 1e9]]) if (ns % n === 0) return ns / n + u;
    return ns / 1e6 + "ms";
  }

  function streamForm(title, cfg, api) {
    cfg = cfg || {};
    const editing = Boolean(cfg.name);
    openForm(title, [
      { name: "name", label: "Name", value: cfg.name, placeholder: "ORDERS" },
      { name: "subjects", label: "Subjects", value: (cfg.subjects || []).join(", "), placeholder: "orders.>, returns.*" },
      { name: "storage", label: "Storage", type: "select", options: ["file", "memory"], value: cfg.storage || "file" },
      { name: "retention", label: "Retention", type: "select", options: ["limits", "interest", "workqueue"], value: cfg.retention || "limits" },
      { name: "discard", label: "When full, discard", type: "select", options: ["old", "new"], value: cfg.discard || "old" },
      { name: "max_msgs", label: "Max messages", type: "number", value: cfg.max_msgs > 0 ? cfg.max_msgs : "", placeholder: "unlimited" },
      { name: "max_bytes", label: "Max bytes", type: "number", value: cfg.max_bytes > 0 ? cfg.max_bytes : "", placeholder: "unlimited" },
      { name: "max_age", label: "Max age", value: fmtNs(cfg.max_age), placeholder: "unlimited, or 90s, 15m, 2h, 7d" },
      { name: "max_msgs_per_subject", label: "Max messages per subject", type: "number", value: cfg.max_msgs_per_subject > 0 ? cfg.max_msgs_per_subject : "", placeholder: "unlimited" },
      { name: "duplicate_window", label: "Duplicate window", value: fmtNs(cfg.duplicate_window), placeholder: "2m" },
      { name: "num_replicas", label: "Replicas", type: "number", value: cfg.num_replicas || 1 },
    ], editing ? "Save" : "Create", async (v) => {
      if (!v.name) throw new Error("a stream needs a name");
      const body = Object.assign({}, cfg, {
        name: v.name, subjects: list(v.subjects), storage: v.storage, retention: v.retention, discard: v.discard,
        max_msgs: v.max_msgs === "" ? -1 : intOrZero(v.max_msgs), max_bytes: v.max_bytes === "" ? -1 : intOrZero(v.max_bytes),
        max_age: durationNs(v.max_age), max_msgs_per_subject: v.max_msgs_per_subject === "" ? -1 : intOrZero(v.max_msgs_per_subject),
        num_replicas: intOrZero(v.num_replicas) || 1,
      });
      const dw = durationNs(v.duplicate_window);
      if (dw) body.duplicate_window = dw; else delete body.duplicate_window;
      await jsIn(account, api(v.name), body);
      location.hash = "#/stream/" + encodeURIComponent(account) + "/" + encodeURIComponent(v.name);
      h.refreshPage();
    });
  }

  function publishForm(subject) {
    openForm("Publish a message", [
      { name: "subject", label: "Subject", value: subject || "", placeholder: "orders.new" },
      { name: "headers", label: "Headers", type: "textarea", rows: 3, placeholder: "Name: value, one a line" },
      { name: "payload", label: "Payload", type: "textarea", rows: 6 },
      { name: "ack", label: "Wait for a stream's acknowledgement", type: "checkbox", value: true },
    ], "Publish", async (v) => {
      const headers = [];
      for (const line of v.headers.split("\n")) {
        if (!line.trim()) continue;
        const i = line.indexOf(":");
        if (i <= 0) throw new Error(`header line "${line}" needs "Name: value"`);
        headers.push([line.slice(0, i).trim(), line.slice(i + 1).trim()]);
      }
      const r = await call("POST", "/console/api/publish", { account, subject: v.subject, headers, payload: v.payload, ack: v.ack });
      if (!r.ok) throw new Error((r.body && r.body.error) || "HTTP " + r.status);
      if (r.body && r.body.error) throw new Error(r.body.error.description + " (" + r.body.error.err_code + ")");
      h.refreshPage();
      return v.ack ? "Stored: " + JSON.stringify(r.body) : "Published.";
    });
  }

  // ---- streams list: scoped to the account, with links --------------------------

  // accountOfReport splits a /jsz stream name: named accounts' streams
  // are shown as "account/stream".
  function splitStreamName(n) {
    const i = n.indexOf("/");
    return i < 0 ? ["$G", n] : [n.slice(0, i), n.slice(i + 1)];
  }

  // decorateStreams keeps the account's streams on the list and links each
  // to its page.
  function decorateStreams() {
    for (const box of document.querySelectorAll("#streams-list .stream")) {
      const h2 = box.querySelector("h2");
      const [acc, name] = splitStreamName(box.dataset.name || h2.textContent);
      box.dataset.name = box.dataset.name || h2.textContent;
      box.hidden = session !== null && acc !== account;
      if (h2.querySelector("a")) continue;
      const a = el("a", "", name);
      a.href = "#/stream/" + encodeURIComponent(acc) + "/" + encodeURIComponent(name);
      h2.replaceChildren(a);
    }
  }

  // ---- connections: a close button per row ------------------------------------

  function decorateConnection(tr, c) {
    const td = el("td", "row-actions operator-only");
    const b = el("button", "btn small danger", "Close");
    b.onclick = async () => {
      if (!(await confirmAction(`Close connection ${c.cid}?`, `${c.name || c.ip + ":" + c.port} is disconnected; its client may reconnect.`, "Close connection"))) return;
      const r = await call("POST", "/console/api/kick", { cid: c.cid });
      if (!r.ok) h.setStatus("Error: " + ((r.body && r.body.error) || "HTTP " + r.status));
      h.refreshPage();
    };
    td.appendChild(b);
    tr.appendChild(td);
  }

  // ---- wiring -------------------------------------------------------------------

  function pickAccount(a, reroute) {
    account = a;
    sessionStorage.setItem("wisp.account", a);
    $("account-pick").value = a;
    $("who-account").textContent = a;
    if (reroute) {
      if (streamPage.route()) location.hash = "#/streams";
      else h.refreshPage();
    }
  }

  function start() {
    $("login-form").addEventListener("submit", login);
    $("logout").onclick = logout;
    $("account-pick").addEventListener("change", (e) => pickAccount(e.target.value, true));
    $("stream-new").onclick = () => streamForm("New stream", null, (n) => "STREAM.CREATE." + n);
    $("publish-open").onclick = () => publishForm("");
    streamPage.start();
    return loadSession();
  }

  // The stream page (stream.js) uses the requests, dialogs and forms here.
  const streamPage = window.WispStreamPage(h, {
    call, jsIn, confirmAction, openForm, streamForm, publishForm, pickAccount, intOrZero, durationNs, fmtNs,
    session: () => session, account: () => account,
  });

  return { start, loadStream: streamPage.load, decorateStreams, decorateConnection, account: () => account };
};
