// Wisp console. Polls the JSON endpoints of the server it is served from and
// renders them; rates are worked out here from successive /varz totals.
// Every value from the server (client names above all) is written with
// textContent, never as HTML.
"use strict";

(() => {
  const VARZ_EVERY_MS = 1000; // overview counters and chart
  const PAGE_EVERY_MS = 2000; // tables on the other pages
  const HEALTH_EVERY_MS = 5000;
  const HISTORY_MS = 5 * 60 * 1000; // the chart's window
  const PAGE_SIZE = 100;

  const $ = (id) => document.getElementById(id);

  // ---- formatting -------------------------------------------------------

  const intFmt = new Intl.NumberFormat("en-US");
  const fmtInt = (n) => intFmt.format(n || 0);

  function fmtShort(n) {
    n = n || 0;
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 1 : 2) + "G";
    if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 1 : 2) + "M";
    if (a >= 1e4) return (n / 1e3).toFixed(a >= 1e5 ? 0 : 1) + "k";
    if (a >= 100 || n === Math.round(n)) return String(Math.round(n));
    return n.toFixed(1);
  }

  function fmtBytes(n) {
    n = n || 0;
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    // Below 10 B a rate axis needs its fraction (0.3, 0.5, 0.8 B/s), not
    // the same rounded label on every line.
    const whole = i === 0 && (n === Math.round(n) || Math.abs(n) >= 10);
    return (whole ? String(Math.round(n)) : n.toFixed(Math.abs(n) >= 100 ? 0 : 1)) + " " + units[i];
  }

  function fmtDuration(ms) {
    let s = Math.max(0, Math.floor(ms / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + m + "m";
    if (m > 0) return m + "m " + s + "s";
    return s + "s";
  }

  // ---- DOM helpers --------------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function setText(id, text) {
    const e = $(id);
    if (e && e.textContent !== text) e.textContent = text;
  }

  // row builds a table row from [text, className] pairs.
  function row(cells) {
    const tr = el("tr");
    for (const [text, cls] of cells) tr.appendChild(el("td", cls || "", text));
    return tr;
  }

  // replicaRows lists a raft group's members for a table: first is the
  // server that reported (a stream's leader, or this server for the meta
  // group), then the others it reported; the leader is marked.
  function replicaRows(first, leader, replicas) {
    const rows = [];
    const names = new Set((replicas || []).map((p) => p.name));
    if (first && !names.has(first)) {
      rows.push(row([[first, "name"], [first === leader ? "leader" : "follower", ""], ["yes", ""], ["now", "num dim"], ["0", "num dim"]]));
    }
    for (const p of replicas || []) {
      const heard = p.offline ? "never" : `${(p.active / 1e9).toFixed(1)} s ago`;
      const tr = row([
        [p.name || "(unknown)", "name"],
        [p.name === leader ? "leader" : "follower", ""],
        [p.current ? "yes" : "no", p.current ? "" : "bad"],
        [heard, "num dim"],
        [fmtInt(p.lag || 0), "num" + (p.lag ? "" : " dim")],
      ]);
      tr.dataset.replica = p.name || "";
      rows.push(tr);
    }
    if (rows.length && first && !names.has(first)) rows[0].dataset.replica = first;
    return rows;
  }

  function pager(id, total, offset, onMove) {
    const box = $(id);
    box.replaceChildren();
    if (total <= PAGE_SIZE) return;
    const prev = el("button", "", "Previous");
    const next = el("button", "", "Next");
    prev.disabled = offset === 0;
    next.disabled = offset + PAGE_SIZE >= total;
    prev.onclick = () => onMove(Math.max(0, offset - PAGE_SIZE));
    next.onclick = () => onMove(offset + PAGE_SIZE);
    box.append(el("span", "", `${fmtInt(offset + 1)}–${fmtInt(Math.min(total, offset + PAGE_SIZE))} of ${fmtInt(total)}`), prev, next);
  }

  async function getJSON(path) {
    const r = await fetch(path, { cache: "no-store", headers: { Accept: "application/json" } });
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    return { status: r.status, ok: r.ok, body };
  }

  // ---- overview: /varz history and chart ---------------------------------

  const samples = []; // {t, inMsgs, outMsgs, inBytes, outBytes} by server time
  let varz = null;
  let connected = false;

  function addSample(v) {
    const t = Date.parse(v.now);
    const last = samples[samples.length - 1];
    if (last && (t <= last.t || v.in_msgs < last.inMsgs || v.out_msgs < last.outMsgs)) {
      // A counter going down means the server restarted: start afresh.
      samples.length = 0;
    } else if (last && t - last.t < 800) {
      // Readings bunched together (a late poll, then a prompt one) would
      // make a spike of rounding noise: keep them at least 0.8 s apart.
      return;
    }
    samples.push({ t, inMsgs: v.in_msgs, outMsgs: v.out_msgs, inBytes: v.in_bytes, outBytes: v.out_bytes });
    while (samples.length > 2 && samples[0].t < t - HISTORY_MS - 5000) samples.shift();
  }

  // rates returns per-second rates between successive samples.
  function rates() {
    const out = [];
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1], b = samples[i];
      const dt = (b.t - a.t) / 1000;
      if (dt <= 0) continue;
      out.push({
        t: b.t,
        inMsgs: (b.inMsgs - a.inMsgs) / dt, outMsgs: (b.outMsgs - a.outMsgs) / dt,
        inBytes: (b.inBytes - a.inBytes) / dt, outBytes: (b.outBytes - a.outBytes) / dt,
      });
    }
    return out;
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // niceMax rounds a chart's top up to 1, 2 or 5 times a power of ten.
  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // drawChart draws series (points {t, field...}) as lines; spark leaves
  // out the axes and labels, for the small charts in table rows.
  function drawChart(canvas, series, keys, fmt, spark) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (w === 0 || h === 0) return;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);

    const font = getComputedStyle(document.body).fontFamily;
    const [padL, padR, padT, padB] = spark ? [1, 1, 2, 2] : [52, 10, 8, 22];
    const plotW = w - padL - padR, plotH = h - padT - padB;
    const now = series.length ? series[series.length - 1].t : Date.now();
    // The window grows with the history, a minute at a time, up to five.
    const span = series.length ? now - series[0].t : 0;
    const windowMs = Math.min(HISTORY_MS, Math.max(60000, Math.ceil(span / 60000) * 60000));
    const t0 = now - windowMs;
    let top = 0;
    for (const p of series) for (const k of keys) top = Math.max(top, p[k.field]);
    top = niceMax(top * 1.1);

    // Grid and labels (none on a spark line).
    if (!spark) {
      ctx.font = "11px " + font;
      ctx.fillStyle = cssVar("--muted");
      ctx.strokeStyle = cssVar("--grid");
      ctx.lineWidth = 1;
      ctx.textBaseline = "middle";
      ctx.textAlign = "right";
      for (let i = 0; i <= 4; i++) {
        const y = Math.round(padT + plotH - (plotH * i) / 4) + 0.5;
        ctx.beginPath(); ctx.moveTo(padL, y); ctx.lineTo(padL + plotW, y); ctx.stroke();
        ctx.fillText(fmt((top * i) / 4), padL - 8, y);
      }
      ctx.textBaseline = "top";
      ctx.textAlign = "center";
      const stepMs = windowMs <= 60000 ? 10000 : 60000;
      for (let back = 0; back <= windowMs; back += stepMs) {
        const x = padL + plotW - (plotW * back) / windowMs;
        const label = back === 0 ? "now" : stepMs < 60000 ? "-" + back / 1000 + "s" : "-" + back / 60000 + "m";
        ctx.fillText(label, Math.min(Math.max(x, padL + 12), padL + plotW - 12), padT + plotH + 7);
      }
    }

    if (series.length === 0) {
      if (spark) return;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText("collecting…", padL + plotW / 2, padT + plotH / 2);
      return;
    }
    const xOf = (t) => padL + ((t - t0) / windowMs) * plotW;
    const yOf = (v) => padT + plotH - (v / top) * plotH;

    ctx.save();
    ctx.beginPath();
    ctx.rect(padL, padT - 2, plotW, plotH + 4);
    ctx.clip();
    for (const k of keys) {
      const color = cssVar(k.color);
      ctx.beginPath();
      series.forEach((p, i) => {
        const x = xOf(p.t), y = yOf(p[k.field]);
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.8;
      ctx.lineJoin = "round";
      ctx.stroke();
      // A light wash under the line, fading out towards the axis.
      ctx.lineTo(xOf(series[series.length - 1].t), padT + plotH);
      ctx.lineTo(xOf(series[0].t), padT + plotH);
      ctx.closePath();
      const wash = ctx.createLinearGradient(0, padT, 0, padT + plotH);
      wash.addColorStop(0, color);
      wash.addColorStop(1, "transparent");
      ctx.globalAlpha = 0.12;
      ctx.fillStyle = wash;
      ctx.fill();
      ctx.globalAlpha = 1;
    }
    ctx.restore();
  }

  function drawCharts() {
    if (currentPage() !== "overview") return;
    const r = rates();
    drawChart($("chart-msgs"), r, [{ field: "inMsgs", color: "--in" }, { field: "outMsgs", color: "--out" }], fmtShort);
    drawChart($("chart-bytes"), r, [{ field: "inBytes", color: "--in" }, { field: "outBytes", color: "--out" }], (v) => fmtBytes(v));
  }

  function fact(dl, name, value) {
    const d = el("div");
    d.append(el("dt", "", name), el("dd", "", value));
    d.lastChild.title = value;
    dl.appendChild(d);
  }

  function renderOverview() {
    const v = varz;
    if (!v) return;
    const r = rates();
    const last = r[r.length - 1];
    setText("stat-uptime", fmtDuration(Date.parse(v.now) - Date.parse(v.start)));
    const started = new Date(v.start);
    const sameDay = started.toDateString() === new Date().toDateString();
    setText("stat-started", "since " + (sameDay ? started.toLocaleTimeString() : started.toLocaleDateString()));
    setText("stat-connections", fmtInt(v.connections));
    setText("stat-total-connections", fmtInt(v.total_connections) + " since start");
    setText("stat-subscriptions", fmtInt(v.subscriptions));
    setText("stat-cached", fmtInt((v.sublist || {}).num_cache) + " cached subjects");
    setText("stat-slow", fmtInt(v.slow_consumers));
    setText("stat-slow-sub", v.slow_consumers > 0 ? "connections closed for falling behind" : "none since start");
    $("stat-slow").classList.toggle("warn", v.slow_consumers > 0);
    setText("stat-in-rate", last ? fmtShort(last.inMsgs) : "–");
    setText("stat-out-rate", last ? fmtShort(last.outMsgs) : "–");
    setText("stat-in-total", fmtInt(v.in_msgs) + " total · " + fmtBytes(v.in_bytes));
    setText("stat-out-total", fmtInt(v.out_msgs) + " total · " + fmtBytes(v.out_bytes));

    const dl = $("facts");
    dl.replaceChildren();
    fact(dl, "Server ID", v.server_id);
    fact(dl, "Version", v.wisp_version + (v.git_commit ? " (" + v.git_commit + ")" : "") + " · " + v.go);
    fact(dl, "Clients see", "nats-server " + v.version);
    fact(dl, "Client port", v.host + ":" + v.port);
    fact(dl, "CPU", v.cpu.toFixed(1) + " % of a core · " + v.cores + " cores");
    fact(dl, "Memory (RSS)", fmtBytes(v.mem));
    fact(dl, "Started", new Date(v.start).toLocaleString());
    fact(dl, "Max payload", fmtBytes(v.max_payload));
    fact(dl, "Max connections", fmtInt(v.max_connections));
    fact(dl, "Auth required", v.auth_required ? "yes" : "no");
    fact(dl, "Streams", v.jetstream && v.jetstream.enabled ? "enabled" : "off");
    const perr = Object.values(v.protocol_errors || {}).reduce((a, b) => a + b, 0);
    fact(dl, "Protocol errors", fmtInt(perr));
    fact(dl, "Auth failures", fmtInt(v.auth_failures));
    const sl = v.sublist || {};
    fact(dl, "Shared match cache hits", sl.num_matches ? ((sl.cache_hit_rate || 0) * 100).toFixed(1) + " %" : "no lookups yet");
    drawCharts();
  }

  function renderHeader() {
    if (!varz) return;
    setText("server-name", varz.server_name);
    $("server-name").title = varz.server_id;
    setText("server-version", "v" + varz.wisp_version);
    document.title = varz.server_name === varz.server_id ? "Wisp console" : varz.server_name + " · Wisp";
  }

  function setHealth(state, text, title) {
    const h = $("health");
    h.className = "health " + state;
    h.textContent = text;
    h.title = title || text;
  }

  async function pollVarz() {
    try {
      const r = await getJSON("/varz");
      if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
      varz = r.body;
      addSample(varz);
      if (!connected) { connected = true; pollHealth(); }
      renderHeader();
      renderOverview();
      setText("last-update", "Updated " + new Date().toLocaleTimeString());
    } catch (e) {
      if (connected) setHealth("bad", "unreachable", String(e));
      connected = false;
      setText("last-update", "Cannot reach the server: " + e.message);
    }
  }

  async function pollHealth() {
    try {
      const r = await getJSON("/healthz");
      if (r.ok) setHealth("ok", "healthy");
      else setHealth("bad", (r.body && r.body.status) || "unhealthy", r.body && r.body.error);
    } catch (e) {
      setHealth("bad", "unreachable", String(e));
    }
  }

  // ---- connections --------------------------------------------------------

  let connOffset = 0;
  let connNames = new Map(); // cid → name, for the subscriptions page

  async function loadConnections() {
    const sort = $("conn-sort").value;
    // Scoped to the account picked in the top bar, as every page is.
    const acc = manage.account();
    const r = await getJSON(`/connz?sort=${encodeURIComponent(sort)}&offset=${connOffset}&limit=${PAGE_SIZE}` + (acc ? "&acc=" + encodeURIComponent(acc) : ""));
    if (!r.ok) throw new Error((r.body && r.body.error) || "HTTP " + r.status);
    const cz = r.body;
    setText("conn-count", fmtInt(cz.total));
    const tbody = $("conn-table").tBodies[0];
    const now = Date.parse(cz.now);
    const rows = cz.connections.map((c) => {
      connNames.set(c.cid, c.name || "");
      const client = [c.lang, c.version].filter(Boolean).join(" ");
      const tr = row([
        [c.cid, "num dim"],
        [c.name || "—", c.name ? "name" : "dim"],
        [c.ip + ":" + c.port, "mono"],
        [client || "—", client ? "" : "dim"],
        [fmtInt(c.subscriptions), "num"],
        [fmtBytes(c.pending_bytes), "num" + (c.pending_bytes > 0 ? "" : " dim")],
        [fmtInt(c.in_msgs), "num"],
        [fmtInt(c.out_msgs), "num"],
        [fmtBytes(c.in_bytes), "num"],
        [fmtBytes(c.out_bytes), "num"],
        [fmtDuration(now - Date.parse(c.start)), "num"],
      ]);
      manage.decorateConnection(tr, c);
      return tr;
    });
    tbody.replaceChildren(...rows);
    $("conn-empty").hidden = rows.length > 0;
    pager("conn-pager", cz.total, connOffset, (o) => { connOffset = o; refreshPage(); });
  }

  // ---- subscriptions --------------------------------------------------------

  let subsOffset = 0;

  async function loadSubscriptions() {
    const text = $("subs-filter").value.trim();
    const mode = $("subs-mode").value;
    let q = `/subsz?subs=1&offset=${subsOffset}&limit=${PAGE_SIZE}`;
    if (manage.account()) q += "&acc=" + encodeURIComponent(manage.account());
    if (text) q += `&${mode}=${encodeURIComponent(text)}`;
    const [r, cz] = await Promise.all([getJSON(q), getJSON("/connz?limit=100000")]);
    if (cz.ok) for (const c of cz.body.connections) connNames.set(c.cid, c.name || "");
    const err = $("subs-error");
    if (!r.ok) {
      err.textContent = (r.body && r.body.error) || "HTTP " + r.status;
      err.hidden = false;
      return;
    }
    err.hidden = true;
    const sz = r.body;
    setText("subs-count", text ? `${fmtInt(sz.total)} of ${fmtInt(sz.num_subscriptions)}` : fmtInt(sz.total));
    const rows = (sz.subscriptions_list || []).map((s) => {
      const who = s.cid === 0 ? "in-process" : `#${s.cid}` + (connNames.get(s.cid) ? " " + connNames.get(s.cid) : "");
      return row([
        [s.subject, "mono"],
        [s.qgroup || "—", s.qgroup ? "" : "dim"],
        [who, s.cid === 0 ? "dim" : ""],
        [s.sid || "—", "num dim"],
        [fmtInt(s.msgs), "num"],
        [s.max ? fmtInt(s.max) : "—", "num dim"],
      ]);
    });
    $("subs-table").tBodies[0].replaceChildren(...rows);
    $("subs-empty").hidden = rows.length > 0;
    pager("subs-pager", sz.total, subsOffset, (o) => { subsOffset = o; refreshPage(); });
  }

  // ---- streams --------------------------------------------------------------

  function figure(label, value) {
    const d = el("div");
    d.append(el("div", "label", label), el("div", "value", value));
    return d;
  }

  function statCard(label, value, sub) {
    const d = el("div", "stat");
    d.append(el("div", "label", label), el("div", "value", value), el("div", "sub", sub || ""));
    return d;
  }

  async function loadStreams() {
    const r = await getJSON("/jsz");
    const off = r.status === 404;
    $("streams-off").hidden = !off;
    $("streams-error").hidden = r.ok || off;
    $("streams-on").hidden = !r.ok;
    if (!r.ok) {
      setText("streams-count", "");
      if (!off) setText("streams-error-text", (r.body && r.body.error) || "HTTP " + r.status);
      return;
    }
    const jz = r.body;
    setText("streams-count", fmtInt(jz.streams));
    $("streams-totals").replaceChildren(
      statCard("Streams", fmtInt(jz.streams)),
      statCard("Consumers", fmtInt(jz.consumers)),
      statCard("Messages", fmtInt(jz.messages)),
      statCard("File storage", fmtBytes(jz.storage)),
      statCard("Memory storage", fmtBytes(jz.memory)),
      statCard("API requests", fmtInt(jz.api.total), jz.api.errors ? `${fmtInt(jz.api.errors)} failed` : "none failed"),
    );
    $("streams-empty").hidden = jz.stream_detail.length > 0;
    const list = jz.stream_detail.map((s) => {
      const box = el("div", "panel stream");
      box.dataset.name = s.name;
      const head = el("div", "stream-head");
      head.appendChild(el("h2", "", s.name));
      if (s.storage) head.appendChild(el("span", "pill", s.storage));
      // A server that is not clustered names itself the leader of every
      // stream (no cluster name): nothing to show then.
      if (s.cluster && (s.cluster.name || s.cluster.raft_group)) {
        const n = 1 + (s.cluster.replicas || []).length;
        const lead = el("span", "pill replicas", `R${n} · ` + (s.cluster.leader ? "leader " + s.cluster.leader : "no leader"));
        if (!s.cluster.leader) lead.classList.add("warn");
        lead.title = "Replicas: " + [varz && varz.server_name].concat((s.cluster.replicas || []).map((p) => p.name + (p.current ? "" : " (behind)"))).filter(Boolean).join(", ");
        head.appendChild(lead);
      }
      for (const subj of s.subjects) head.appendChild(el("code", "", subj));
      box.appendChild(head);
      const st = s.state;
      const figs = el("div", "stream-figures");
      figs.append(
        figure("Messages", fmtInt(st.messages)),
        figure("Bytes", fmtBytes(st.bytes)),
        figure("First seq", fmtInt(st.first_seq)),
        figure("Last seq", fmtInt(st.last_seq)),
        figure("Consumers", fmtInt(st.consumer_count)),
      );
      box.appendChild(figs);
      const origins = (s.mirror ? [Object.assign({ kind: "mirror" }, s.mirror)] : []).concat((s.sources || []).map((o) => Object.assign({ kind: "source" }, o)));
      if (origins.length > 0) {
        const t = el("table", "grid");
        const hr = el("tr");
        for (const [h, c] of [["Copies from", ""], ["Kind", ""], ["Lag", "num"], ["Last heard", "num"], ["Error", ""]]) hr.appendChild(el("th", c, h));
        t.appendChild(el("thead")).appendChild(hr);
        const tb = t.appendChild(el("tbody"));
        for (const o of origins) {
          tb.appendChild(row([
            [o.name, "name"],
            [o.kind, "dim"],
            [fmtInt(o.lag), "num" + (o.lag ? "" : " dim")],
            [o.active < 0 ? "never" : `${(o.active / 1e9).toFixed(1)} s ago`, "num dim"],
            [o.error || "", o.error ? "" : "dim"],
          ]));
        }
        box.appendChild(t);
      }
      if (s.consumer_detail.length > 0) {
        const t = el("table", "grid");
        const hr = el("tr");
        for (const [h, c] of [["Consumer", ""], ["Pending", "num"], ["Ack pending", "num"], ["Redelivered", "num"], ["Waiting pulls", "num"]]) hr.appendChild(el("th", c, h));
        t.appendChild(el("thead")).appendChild(hr);
        const tb = t.appendChild(el("tbody"));
        for (const c of s.consumer_detail) {
          tb.appendChild(row([
            [c.name, "name"],
            [fmtInt(c.num_pending), "num"],
            [fmtInt(c.num_ack_pending), "num" + (c.num_ack_pending ? "" : " dim")],
            [fmtInt(c.num_redelivered), "num" + (c.num_redelivered ? "" : " dim")],
            [fmtInt(c.num_waiting), "num dim"],
          ]));
        }
        box.appendChild(t);
      }
      return box;
    });
    $("streams-list").replaceChildren(...list);
    manage.decorateStreams();
  }

  // ---- cluster --------------------------------------------------------------

  let routeSeen = new Map(); // remote_id → {t, in, out}: the previous poll, for rates

  async function loadCluster() {
    const v = varz || (await getJSON("/varz")).body || {};
    const cl = v.cluster || {};
    const on = Boolean(cl.name);
    $("cluster-off").hidden = on;
    $("cluster-on").hidden = !on;
    setText("cluster-name", on ? cl.name : "");
    if (!on) return;
    const r = await getJSON("/routez");
    if (!r.ok) throw new Error((r.body && r.body.error) || "HTTP " + r.status);
    const rz = r.body;
    const t = Date.parse(rz.now);
    let inRate = 0, outRate = 0;
    const seen = new Map();
    const rows = rz.routes.map((rt) => {
      const prev = routeSeen.get(rt.remote_id);
      let rin = null, rout = null;
      if (prev && t > prev.t) {
        const secs = (t - prev.t) / 1000;
        rin = Math.max(0, (rt.in_msgs - prev.in) / secs);
        rout = Math.max(0, (rt.out_msgs - prev.out) / secs);
        inRate += rin;
        outRate += rout;
      }
      seen.set(rt.remote_id, { t, in: rt.in_msgs, out: rt.out_msgs });
      return row([
        [rt.remote_name || "—", "name"],
        [rt.remote_id, "mono dim"],
        [rt.ip + ":" + rt.port, "mono"],
        [rt.did_solicit ? "this server" : rt.remote_name || "the other", rt.did_solicit ? "" : "dim"],
        [fmtInt(rt.subscriptions), "num"],
        [fmtBytes(rt.pending_size), "num" + (rt.pending_size > 0 ? "" : " dim")],
        [rin === null ? "–" : fmtShort(rin), "num"],
        [rout === null ? "–" : fmtShort(rout), "num"],
        [fmtInt(rt.in_msgs), "num"],
        [fmtInt(rt.out_msgs), "num"],
        [fmtDuration(t - Date.parse(rt.start)), "num"],
      ]);
    });
    routeSeen = seen;
    $("cluster-table").tBodies[0].replaceChildren(...rows);
    $("cluster-empty").hidden = rows.length > 0;
    $("cluster-totals").replaceChildren(
      statCard("Servers", fmtInt(rz.num_routes + 1), "this one and " + fmtInt(rz.num_routes) + " connected"),
      statCard("Routed in / s", fmtShort(inRate), "messages from other servers"),
      statCard("Routed out / s", fmtShort(outRate), "messages to other servers"),
      statCard("Slow routes", fmtInt(cl.slow_routes || 0), "routes cut for falling behind"),
    );
    await loadMeta(v.server_name);
  }

  // loadMeta shows the meta group (/jsz's meta_cluster) on the Cluster
  // page: hidden on a server without streams or replication.
  async function loadMeta(self) {
    const j = await getJSON("/jsz");
    const mc = j.ok && j.body.meta_cluster;
    $("meta-panel").hidden = !mc;
    if (!mc) return;
    setText("meta-size", fmtInt(mc.cluster_size || 0) + " servers");
    setText("meta-leader", mc.leader ? "leader " + mc.leader : "");
    $("meta-forming").hidden = Boolean(mc.leader);
    $("meta-table").tBodies[0].replaceChildren(...replicaRows(self, mc.leader, mc.replicas));
  }

  // ---- routing and polling ----------------------------------------------------

  const pages = {
    overview: null, connections: loadConnections, subscriptions: loadSubscriptions, streams: loadStreams,
    stream: () => manage.loadStream(), cluster: loadCluster,
  };

  function currentPage() {
    const p = location.hash.replace(/^#\/?/, "");
    if (p.startsWith("stream/")) return "stream";
    return Object.prototype.hasOwnProperty.call(pages, p) ? p : "overview";
  }

  let pageTimer = null;
  let loading = false;

  async function refreshPage() {
    const load = pages[currentPage()];
    if (!load || loading) return;
    loading = true;
    try {
      await load();
    } catch (e) {
      setText("last-update", "Error: " + e.message);
    } finally {
      loading = false;
    }
  }

  function route() {
    const page = currentPage();
    for (const name of Object.keys(pages)) $("page-" + name).hidden = name !== page;
    const tab = page === "stream" ? "streams" : page;
    for (const a of document.querySelectorAll(".tabs a")) a.classList.toggle("active", a.dataset.page === tab);
    clearInterval(pageTimer);
    pageTimer = null;
    if (pages[page]) {
      refreshPage();
      pageTimer = setInterval(refreshPage, PAGE_EVERY_MS);
    } else {
      renderOverview();
    }
  }

  // The management pages (manage.js) share this file's helpers.
  const manage = window.WispManage({
    $, el, fmtInt, fmtBytes, fmtShort, fmtDuration, drawChart, row, fact, statCard, replicaRows,
    route: () => route(), refreshPage: () => refreshPage(), setStatus: (t) => setText("last-update", t),
  });

  // seedSamples puts the server's history (console_history.go) before the
  // samples this page took, so the charts start with the past minutes.
  function seedSamples(points) {
    const first = samples.length ? samples[0].t : Infinity;
    const older = points.filter((p) => p.t < first - 800)
      .map((p) => ({ t: p.t, inMsgs: p.in_msgs, outMsgs: p.out_msgs, inBytes: p.in_bytes, outBytes: p.out_bytes }));
    samples.unshift(...older.slice(-Math.ceil(HISTORY_MS / 1000)));
    drawCharts();
  }

  function start() {
    manage.start().then(async (ok) => {
      if (ok) {
        const r = await getJSON("/console/api/history");
        if (r.ok && r.body) seedSamples(r.body.points || []);
      }
      refreshPage();
    });
    $("conn-sort").addEventListener("change", () => { connOffset = 0; refreshPage(); });
    let debounce = null;
    const refilter = () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => { subsOffset = 0; refreshPage(); }, 250);
    };
    $("subs-filter").addEventListener("input", refilter);
    $("subs-mode").addEventListener("change", refilter);
    window.addEventListener("hashchange", route);
    if (window.ResizeObserver) new ResizeObserver(drawCharts).observe($("page-overview"));
    route();
    pollVarz();
    setInterval(pollVarz, VARZ_EVERY_MS);
    setInterval(pollHealth, HEALTH_EVERY_MS);
  }

  start();
})();
