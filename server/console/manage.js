// Wisp console: login, accounts, and the management pages (a stream's
// detail, its messages, and the actions). console.js calls WispManage with
// its helpers. Every request that changes something carries the session's
// CSRF token; the server decides what the user may do, the page only hides
// buttons the user could not use. Values from the server are written with
// textContent, never as HTML.
"use strict";

window.WispManage = (h) => {
  const { $, el, fmtInt, fmtBytes, fmtShort, fmtDuration, drawChart, row, fact } = h;
  const HISTORY_KEY = "wisp.history."; // sessionStorage: a stream's samples survive a reload
  const MAX_SAMPLES = 300;
  const MSG_PAGE = 20;

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

  // ---- a stream's page ----------------------------------------------------------

  function streamRoute() {
    const m = /^#\/stream\/([^/]+)\/(.+)$/.exec(location.hash);
    return m ? { account: decodeURIComponent(m[1]), name: decodeURIComponent(m[2]) } : null;
  }

  let shown = null; // {account, name, info}
  let samples = []; // {t, seq, bytes, msgs, consumers: {name: delivered}}

  function loadSamples(key) {
    try { return JSON.parse(sessionStorage.getItem(HISTORY_KEY + key)) || []; } catch (_) { return []; }
  }

  function keepSample(key, s) {
    const last = samples[samples.length - 1];
    if (last && (s.t <= last.t || s.seq < last.seq)) samples = []; // recreated or restarted
    samples.push(s);
    if (samples.length > MAX_SAMPLES) samples.splice(0, samples.length - MAX_SAMPLES);
    try { sessionStorage.setItem(HISTORY_KEY + key, JSON.stringify(samples)); } catch (_) { /* full */ }
  }

  // rateSeries turns points (the page's samples unless given) into
  // per-second rates of field(point).
  function rateSeries(field, points) {
    const pts = points || samples;
    const out = [];
    for (let i = 1; i < pts.length; i++) {
      const a = pts[i - 1], b = pts[i];
      const dt = (b.t - a.t) / 1000, va = field(a), vb = field(b);
      if (dt > 0 && va !== undefined && vb !== undefined) out.push({ t: b.t, v: Math.max(0, (vb - va) / dt) });
    }
    return out;
  }

  async function loadStream() {
    const r = streamRoute();
    if (!r || !session) return;
    const key = r.account + "/" + r.name;
    if (!shown || shown.key !== key) {
      shown = { key, account: r.account, name: r.name };
      samples = loadSamples(key);
      $("sd-name").textContent = r.name;
      $("sd-account").textContent = r.account === "$G" ? "" : "account " + r.account;
      if (account !== r.account && (session.visible_accounts || []).includes(r.account)) pickAccount(r.account, false);
      browse.from = null;
      showMessages(true);
    }
    let info, consumers, history;
    try {
      [info, consumers, history] = await Promise.all([
        jsIn(r.account, "STREAM.INFO." + r.name), jsIn(r.account, "CONSUMER.LIST." + r.name, {}),
        call("GET", "/console/api/history?" + new URLSearchParams({ account: r.account, stream: r.name }).toString()),
      ]);
    } catch (e) {
      $("sd-error").textContent = e.message;
      $("sd-error").hidden = false;
      return;
    }
    $("sd-error").hidden = true;
    shown.info = info;
    const st = info.state, cfg = info.config;
    const cons = consumers.consumers || [];
    const now = Date.parse(info.ts || "") || Date.now();
    const delivered = {};
    for (const c of cons) delivered[c.name] = c.delivered.consumer_seq;
    keepSample(key, { t: now, seq: st.last_seq, bytes: st.bytes, msgs: st.messages, delivered });

    const avg = st.messages > 0 ? st.bytes / st.messages : 0;
    // The stream's rates come from the server's samples, which span the
    // minutes before this page was opened; the page's own polls stand in
    // where the server keeps none (no stream layer reporting to it).
    const points = (history.ok && history.body && history.body.points) || [];
    const msgRates = points.length >= 2
      ? rateSeries((p) => p.last_seq, points)
      : rateSeries((p) => p.seq);
    const lastRate = msgRates.length ? msgRates[msgRates.length - 1].v : null;
    const lastTs = st.last_ts && !st.last_ts.startsWith("0001") ? Date.parse(st.last_ts) : null;
    $("sd-stats").replaceChildren(
      h.statCard("Messages", fmtInt(st.messages), fmtInt(st.num_deleted || 0) + " deleted inside"),
      h.statCard("Bytes", fmtBytes(st.bytes), cfg.storage + " storage"),
      h.statCard("Sequences", fmtInt(st.first_seq) + "–" + fmtInt(st.last_seq)),
      h.statCard("In / s", lastRate === null ? "–" : fmtShort(lastRate), "messages stored"),
      h.statCard("Last message", lastTs ? fmtDuration(now - lastTs) + " ago" : "none", lastTs ? new Date(lastTs).toLocaleString() : ""),
      h.statCard("Consumers", fmtInt(st.consumer_count)),
    );
    const series = msgRates.map((p) => ({ t: p.t, v: p.v }));
    $("sd-chart-msgs").dataset.source = points.length >= 2 ? "server" : "page";
    $("sd-chart-msgs").dataset.points = String(series.length);
    drawChart($("sd-chart-msgs"), series, [{ field: "v", color: "--in" }], fmtShort);
    // Bytes in: the messages stored times their average size (the API
    // reports stored bytes, which limits also take away from).
    drawChart($("sd-chart-bytes"), series.map((p) => ({ t: p.t, v: p.v * avg })), [{ field: "v", color: "--in" }], (v) => fmtBytes(v));

    const dl = $("sd-config");
    dl.replaceChildren();
    fact(dl, "Subjects", (cfg.subjects || []).join(", ") || "—");
    fact(dl, "Retention", cfg.retention);
    fact(dl, "Storage", cfg.storage);
    fact(dl, "Discard", cfg.discard);
    fact(dl, "Max messages", cfg.max_msgs > 0 ? fmtInt(cfg.max_msgs) : "unlimited");
    fact(dl, "Max bytes", cfg.max_bytes > 0 ? fmtBytes(cfg.max_bytes) : "unlimited");
    fact(dl, "Max age", cfg.max_age ? fmtNs(cfg.max_age) : "unlimited");
    fact(dl, "Max per subject", cfg.max_msgs_per_subject > 0 ? fmtInt(cfg.max_msgs_per_subject) : "unlimited");
    fact(dl, "Max message size", cfg.max_msg_size > 0 ? fmtBytes(cfg.max_msg_size) : "unlimited");
    fact(dl, "Duplicate window", cfg.duplicate_window ? fmtNs(cfg.duplicate_window) : "—");
    fact(dl, "Replicas", String(cfg.num_replicas || 1));
    if (cfg.mirror) fact(dl, "Mirror of", cfg.mirror.name);
    if (cfg.sources && cfg.sources.length) fact(dl, "Sources", cfg.sources.map((s) => s.name).join(", "));
    fact(dl, "Created", new Date(info.created).toLocaleString());
    fact(dl, "First message", st.first_ts && !st.first_ts.startsWith("0001") ? new Date(st.first_ts).toLocaleString() : "—");

    $("sd-consumer-count").textContent = fmtInt(cons.length);
    const rows = cons.map((c) => {
      const cc = c.config;
      const tr = row([
        [c.name + (c.paused ? " (paused)" : ""), "name"],
        [cc.filter_subject || (cc.filter_subjects || []).join(", ") || ">", "mono"],
        [cc.deliver_policy || "all", "dim"],
        [cc.ack_policy || "none", "dim"],
        [fmtInt(c.ack_floor.stream_seq), "num"],
        [fmtInt(c.num_pending), "num"],
        [fmtInt(c.num_ack_pending), "num" + (c.num_ack_pending ? "" : " dim")],
        [fmtInt(c.num_redelivered), "num" + (c.num_redelivered ? "" : " dim")],
        [fmtInt(c.num_waiting), "num dim"],
      ]);
      const chartCell = el("td");
      const canvas = el("canvas", "spark");
      canvas.setAttribute("aria-label", "deliveries per second of " + c.name);
      chartCell.appendChild(canvas);
      tr.appendChild(chartCell);
      const act = el("td", "row-actions operator-only");
      const pause = el("button", "btn small", c.paused ? "Resume" : "Pause");
      pause.onclick = () => pauseConsumer(c);
      const del = el("button", "btn small danger", "Delete");
      del.onclick = () => deleteConsumer(c.name);
      act.append(pause, del);
      tr.appendChild(act);
      tr.dataset.consumer = c.name;
      requestAnimationFrame(() => drawSpark(canvas, rateSeries((s) => (s.delivered || {})[c.name])));
      return tr;
    });
    $("sd-consumers").tBodies[0].replaceChildren(...rows);
    $("sd-consumers-empty").hidden = rows.length > 0;
  }

  // drawSpark draws a small rate chart without axes.
  function drawSpark(canvas, series) {
    drawChart(canvas, series, [{ field: "v", color: "--out" }], fmtShort, true);
  }

  async function pauseConsumer(c) {
    const s = shown;
    if (c.paused) {
      await runAction(() => jsIn(s.account, `CONSUMER.PAUSE.${s.name}.${c.name}`, {}));
      return;
    }
    const until = new Date(Date.now() + 3600e3);
    openForm(`Pause ${c.name}`, [
      { name: "until", label: "Until", type: "datetime-local", value: localInput(until) },
    ], "Pause", async (v) => {
      await jsIn(s.account, `CONSUMER.PAUSE.${s.name}.${c.name}`, { pause_until: new Date(v.until).toISOString() });
      h.refreshPage();
    });
  }

  async function deleteConsumer(name) {
    const s = shown;
    if (!(await confirmAction(`Delete consumer ${name}?`, `Its position and unacknowledged messages are forgotten. The messages stay in ${s.name}.`, "Delete consumer"))) return;
    await runAction(() => jsIn(s.account, `CONSUMER.DELETE.${s.name}.${name}`));
  }

  function consumerForm() {
    const s = shown;
    openForm(`New consumer on ${s.name}`, [
      { name: "durable_name", label: "Durable name", placeholder: "worker" },
      { name: "filter_subject", label: "Filter subject", placeholder: "every subject" },
      { name: "deliver_policy", label: "Start with", type: "select", options: ["all", "last", "new", "last_per_subject"] },
      { name: "ack_policy", label: "Acknowledgement", type: "select", options: ["explicit", "none", "all"] },
      { name: "max_deliver", label: "Max deliveries", type: "number", placeholder: "unlimited" },
      { name: "ack_wait", label: "Ack wait", placeholder: "30s" },
    ], "Create", async (v) => {
      if (!v.durable_name) throw new Error("a consumer needs a name");
      const config = { durable_name: v.durable_name, deliver_policy: v.deliver_policy, ack_policy: v.ack_policy };
      if (v.filter_subject) config.filter_subject = v.filter_subject;
      if (v.max_deliver) config.max_deliver = intOrZero(v.max_deliver);
      if (v.ack_wait) config.ack_wait = durationNs(v.ack_wait);
      await jsIn(s.account, `CONSUMER.CREATE.${s.name}.${v.durable_name}`, { stream_name: s.name, config });
      h.refreshPage();
    });
  }

  function purgeForm() {
    const s = shown;
    openForm(`Purge ${s.name}`, [
      { name: "filter", label: "Only subject", placeholder: "every subject" },
      { name: "seq", label: "Up to (not including) sequence", type: "number", placeholder: "every message" },
      { name: "keep", label: "Keep the newest", type: "number", placeholder: "none" },
    ], "Purge…", async (v) => {
      const body = {};
      if (v.filter) body.filter = v.filter;
      if (v.seq) body.seq = intOrZero(v.seq);
      if (v.keep) body.keep = intOrZero(v.keep);
      const what = [v.filter && `on ${v.filter}`, v.seq && `below sequence ${v.seq}`, v.keep && `but the newest ${v.keep}`].filter(Boolean).join(", ");
      if (!(await confirmAction(`Purge ${s.name}?`, `Every message${what ? " " + what : ""} is removed for good.`, "Purge"))) return "Not purged.";
      const r = await jsIn(s.account, "STREAM.PURGE." + s.name, Object.keys(body).length ? body : undefined);
      h.refreshPage();
      showMessages(true);
      return `Purged ${fmtInt(r.purged)} messages.`;
    });
  }

  async function deleteStream() {
    const s = shown;
    if (!(await confirmAction(`Delete stream ${s.name}?`, "Its messages and consumers are removed for good.", "Delete stream"))) return;
    await runAction(() => jsIn(s.account, "STREAM.DELETE." + s.name));
    location.hash = "#/streams";
  }

  // runAction runs an action and reports its failure on the page.
  async function runAction(fn) {
    try {
      await fn();
      $("sd-error").hidden = true;
    } catch (e) {
      $("sd-error").textContent = e.message;
      $("sd-error").hidden = false;
    }
    h.refreshPage();
  }

  // ---- messages -------------------------------------------------------------------

  const browse = { from: null, next: 0 };

  function localInput(d) {
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  function b64bytes(s) {
    const bin = atob(s || "");
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function hexdump(bytes) {
    const lines = [];
    for (let o = 0; o < bytes.length; o += 16) {
      const chunk = Array.from(bytes.slice(o, o + 16));
      const hex = chunk.map((b) => b.toString(16).padStart(2, "0")).join(" ");
      const text = chunk.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
      lines.push(o.toString(16).padStart(8, "0") + "  " + hex.padEnd(48) + "  " + text);
    }
    return lines.join("\n");
  }

  function renderPayload(bytes, view) {
    if (bytes.length === 0) return "(empty)";
    if (view === "hex") return hexdump(bytes);
    const text = new TextDecoder().decode(bytes);
    if (view === "json") {
      try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { return "(not JSON)\n" + text; }
    }
    return text;
  }

  // showMessages loads a page: from the form's start (fresh) or on from
  // where the last page ended.
  async function showMessages(fresh) {
    const s = shown;
    if (!s) return;
    const q = new URLSearchParams({ account: s.account, stream: s.name, limit: String(MSG_PAGE) });
    const subject = $("browse-subject").value.trim();
    if (subject) q.set("subject", subject);
    if (fresh) {
      const t = $("browse-time").value;
      if (t) q.set("time", new Date(t).toISOString());
      else if ($("browse-seq").value) q.set("seq", $("browse-seq").value);
    } else {
      q.set("seq", String(browse.next));
    }
    const r = await call("GET", "/console/api/messages?" + q.toString());
    const err = $("browse-error");
    if (!r.ok) {
      err.textContent = (r.body && r.body.error) || "HTTP " + r.status;
      err.hidden = false;
      return;
    }
    err.hidden = true;
    const msgs = r.body.messages;
    browse.next = r.body.next;
    const view = $("browse-view").value;
    const cards = msgs.map((m) => {
      const card = el("div", "msg");
      card.dataset.seq = m.seq;
      const data = b64bytes(m.data);
      const head = el("div", "msg-head");
      head.append(el("span", "seq", "#" + fmtInt(m.seq)), el("code", "", m.subject), el("span", "muted", new Date(m.time).toLocaleString()), el("span", "muted", fmtBytes(data.length)));
      const del = el("button", "btn small danger operator-only", "Delete");
      del.onclick = () => deleteMessage(m.seq);
      head.appendChild(del);
      card.appendChild(head);
      const hdrs = new TextDecoder().decode(b64bytes(m.hdrs)).split("\r\n").slice(1).filter(Boolean);
      if (hdrs.length) card.appendChild(el("pre", "msg-headers", hdrs.join("\n")));
      card.appendChild(el("pre", "msg-data", renderPayload(data, view)));
      return card;
    });
    $("msg-list").replaceChildren(...cards);
    $("msg-empty").hidden = cards.length > 0;
    $("msg-next").disabled = !browse.next;
    $("msg-range").textContent = msgs.length ? `#${fmtInt(msgs[0].seq)}–#${fmtInt(msgs[msgs.length - 1].seq)}` : "";
  }

  async function deleteMessage(seq) {
    const s = shown;
    if (!(await confirmAction(`Delete message #${fmtInt(seq)}?`, `It is removed from ${s.name} for good.`, "Delete message"))) return;
    await runAction(() => jsIn(s.account, "STREAM.MSG.DELETE." + s.name, { seq }));
    showMessages(true);
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
      if (streamRoute()) location.hash = "#/streams";
      else h.refreshPage();
    }
  }

  function start() {
    $("login-form").addEventListener("submit", login);
    $("logout").onclick = logout;
    $("account-pick").addEventListener("change", (e) => pickAccount(e.target.value, true));
    $("stream-new").onclick = () => streamForm("New stream", null, (n) => "STREAM.CREATE." + n);
    $("publish-open").onclick = () => publishForm("");
    $("sd-publish").onclick = () => publishForm(((shown && shown.info && shown.info.config.subjects) || [""])[0].replace(/[*>]/g, "test"));
    $("sd-edit").onclick = () => streamForm("Edit " + shown.name, shown.info && shown.info.config, (n) => "STREAM.UPDATE." + n);
    $("sd-purge").onclick = purgeForm;
    $("sd-delete").onclick = deleteStream;
    $("sd-consumer-new").onclick = consumerForm;
    $("browse-form").addEventListener("submit", (e) => { e.preventDefault(); showMessages(true); });
    $("browse-view").addEventListener("change", () => showMessages(true));
    $("msg-first").onclick = () => { $("browse-seq").value = ""; $("browse-time").value = ""; showMessages(true); };
    $("msg-next").onclick = () => showMessages(false);
    return loadSession();
  }

  return { start, loadStream, decorateStreams, decorateConnection, hasSession: () => session !== null };
};
