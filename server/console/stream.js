// Wisp console: a stream's page. Its figures, configuration and consumers
// (polled), its rates (from the server's samples, console_history.go), its
// messages (paged on demand, never polled, so the view holds still while
// read) and the actions on it. manage.js calls WispStreamPage with the
// helpers of console.js (h) and its own (m).
"use strict";

window.WispStreamPage = (h, m) => {
  const { $, el, fmtInt, fmtBytes, fmtShort, fmtDuration, drawChart, row, fact } = h;
  const { call, jsIn, confirmAction, openForm, intOrZero, durationNs, fmtNs } = m;
  const HISTORY_KEY = "wisp.history."; // sessionStorage: consumers' samples survive a reload
  const MAX_SAMPLES = 300;
  const MSG_PAGE = 20;

  function streamRoute() {
    const match = /^#\/stream\/([^/]+)\/(.+)$/.exec(location.hash);
    return match ? { account: decodeURIComponent(match[1]), name: decodeURIComponent(match[2]) } : null;
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
    const session = m.session();
    if (!r || !session) return;
    const key = r.account + "/" + r.name;
    if (!shown || shown.key !== key) {
      shown = { key, account: r.account, name: r.name };
      samples = loadSamples(key);
      $("sd-name").textContent = r.name;
      $("sd-account").textContent = r.account === "$G" ? "" : "account " + r.account;
      if (m.account() !== r.account && (session.visible_accounts || []).includes(r.account)) m.pickAccount(r.account, false);
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

    // A replicated stream's group, as its leader (which answers stream
    // info) reports it; a server that is not clustered names only itself
    // as the leader (no cluster name), which is not shown.
    const cl = info.cluster && (info.cluster.name || info.cluster.raft_group) ? info.cluster : null;
    $("sd-cluster").hidden = !cl;
    if (cl) {
      $("sd-cluster-group").textContent = cl.raft_group || "";
      $("sd-leader").textContent = cl.leader ? "leader " + cl.leader : "no leader";
      $("sd-replicas").tBodies[0].replaceChildren(...h.replicaRows(cl.leader, cl.leader, cl.replicas));
    }

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
      // Deliveries per second: from the server's samples when it keeps
      // them, else from the page's own.
      const cpts = (history.ok && history.body && history.body.consumers && history.body.consumers[c.name]) || [];
      const rates = cpts.length >= 2 ? rateSeries((p) => p.delivered, cpts) : rateSeries((s) => (s.delivered || {})[c.name]);
      canvas.dataset.source = cpts.length >= 2 ? "server" : "page";
      requestAnimationFrame(() => drawSpark(canvas, rates));
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

  function start() {
    $("sd-publish").onclick = () => m.publishForm(((shown && shown.info && shown.info.config.subjects) || [""])[0].replace(/[*>]/g, "test"));
    $("sd-edit").onclick = () => m.streamForm("Edit " + shown.name, shown.info && shown.info.config, (n) => "STREAM.UPDATE." + n);
    $("sd-purge").onclick = purgeForm;
    $("sd-delete").onclick = deleteStream;
    $("sd-consumer-new").onclick = consumerForm;
    $("browse-form").addEventListener("submit", (e) => { e.preventDefault(); showMessages(true); });
    $("browse-view").addEventListener("change", () => showMessages(true));
    $("msg-first").onclick = () => { $("browse-seq").value = ""; $("browse-time").value = ""; showMessages(true); };
    $("msg-next").onclick = () => showMessages(false);
  }

  return { start, load: loadStream, route: streamRoute };
};
