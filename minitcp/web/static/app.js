// minitcp's ladder page: the web events (docs/web-events.md) drawn as a ladder to time scale.
// Plain JavaScript and SVG, no library, nothing fetched but /events. Settings come inlined in
// <script id="settings">: mode "live" (a stream at settings.source, and/or embedded events) or
// "lab" (embedded events, stepped, with questions and a verdict).
"use strict";

const SETTINGS = JSON.parse(document.getElementById("settings").textContent);
const PARAMS = new URLSearchParams(location.search);
const SVG_NS = "http://www.w3.org/2000/svg";

// ---------------------------------------------------------------- words, in both languages
const WORDS = {
  en: { time: "time", zoom: "zoom", connection: "connection", all: "all", segment: "segment",
        timers: "timers", counters: "counters that moved", closed: "closed connections",
        pause: "Pause", resume: "Resume", next: "Next", left: "left", other: "中文",
        question: "What happens next?", right: "Right.", wrong: "Not quite.", answer: "What happened:",
        verdict: "verdict", pass: "PASS", fail: "FAIL", step: "step", dropped: "dropped",
        retransmit: "retransmit", lost: "lost", peer: "peer", idle: "idle", fired: "fired",
        nothing: "—", tcpdump: "as tcpdump prints it", tso: "TSO cut", gro: "GRO joined",
        unzoom: "Whole time", axis: "drag along the time axis to zoom on a span" },
  zh: { time: "时间", zoom: "缩放", connection: "连接", all: "全部", segment: "报文",
        timers: "定时器", counters: "变化的计数器", closed: "已关闭的连接",
        pause: "暂停", resume: "继续", next: "下一步", left: "剩余", other: "English",
        question: "接下来会发生什么？", right: "答对了。", wrong: "不对。", answer: "实际发生的：",
        verdict: "结论", pass: "通过", fail: "未通过", step: "步骤", dropped: "丢弃",
        retransmit: "重传", lost: "丢失", peer: "对端", idle: "空闲", fired: "已到期",
        nothing: "—", tcpdump: "tcpdump 的输出", tso: "TSO 切分", gro: "GRO 合并",
        unzoom: "全部时间", axis: "沿时间轴拖动以放大一段时间" },
};
let lang = PARAMS.get("lang") || SETTINGS.lang || "en";
const w = (key) => (WORDS[lang] || WORDS.en)[key] || key;

// ---------------------------------------------------------------- what the page holds
const events = [];           // every event received, in order (bounded by the server's log)
const byId = new Map();
const arrivalOf = new Map(); // id of an "out" segment -> its "in" event at the receiver
const dropOf = new Map();    // id of a segment -> the fault event that dropped it
const faultsOf = new Map();  // id of a segment -> what other faults did to it ("delay 50ms", "dup")
const position = new Map();  // id -> index in `events`
const retransmitted = new Set();
const unclaimed = new Map(); // conn -> host that said it retransmitted, its segment not yet seen
const summaries = [];
const questions = new Map((SETTINGS.questions || []).map((q) => [q.before, q]));
const answered = new Map();  // question's segment id -> the choice made
const stepped = SETTINGS.mode === "lab";
let step = 0;                // lab mode: how many events are revealed
let paused = false;          // paused: the view holds still while events keep coming
let cursor = null;           // the time shown (scrubbed), or null: follow the latest
let lastArrival = 0;         // performance.now() when the last live event came
let selected = null;         // id of the clicked segment
let drawnCount = -1;         // how many events the last drawing showed
let span = null;             // zoomed on a time span {from, to} (dragged on the time axis), or null
let drag = null;             // a drag on the time axis: {y0, y1} in the drawing's coordinates
let lastLayout = null;       // the last drawing's layout (for a drag: y to time)
const leftHost = SETTINGS.left || "minitcp";

// A page left open for hours stays bounded, as the server's log is (web/log.py): at most KEEP
// events (beyond, the oldest quarter goes); the FULL most recently closed connections kept whole,
// older closed ones summed up (one line each, the newest SUMMARIES kept); and the drawing shows
// at most DRAW events, the newest up to the time shown (scrub or zoom back for older ones).
const KEEP = 20000, FULL = 50, SUMMARIES = 1000, DRAW = 2000;
const lastState = new Map();  // conn -> Map(host -> its latest state)
const closed = new Map();     // conns closed on every host that reported them, oldest first

function add(e) {
  if (e.kind === "summary") { summaries.push(e); if (summaries.length > SUMMARIES) summaries.shift(); return; }
  if (byId.has(e.id)) return;
  if (!stepped && events.length >= KEEP) {  // the oldest quarter goes, but each side's latest state
    const latest = new Map();
    for (const g of events) if (g.kind === "state") latest.set(`${g.host}|${g.conn}`, g.id);
    const keep = new Set(latest.values());
    forget(new Set(events.slice(0, KEEP / 4).filter((g) => !keep.has(g.id)).map((g) => g.id)));
  }
  position.set(e.id, events.length);
  events.push(e);
  byId.set(e.id, e);
  if (e.kind === "fault" && e.seg != null && e.action !== "drop")
    faultsOf.set(e.seg, [...(faultsOf.get(e.seg) || []), e.action]);
  if (e.kind === "segment" && e.dir === "in" && e.sent != null && !arrivalOf.has(e.sent)) arrivalOf.set(e.sent, e);
  // Joined by GRO on arrival: every transmission it joins arrived with it.
  if (e.kind === "segment" && e.gro) for (const id of e.gro.sent) if (id != null && !arrivalOf.has(id)) arrivalOf.set(id, e);
  if (e.kind === "fault" && e.seg != null && e.action === "drop") dropOf.set(e.seg, e);
  if (e.kind === "retransmit" && e.seg != null) retransmitted.add(e.seg);
  // A host seen through its tracepoints (the kernel) says that it retransmitted, not what: the
  // next segment of that connection reaching the other side from it is the one (trace/diagram.py).
  if (e.kind === "retransmit" && e.seg == null) unclaimed.set(e.conn, e.host);
  if (e.kind === "segment" && e.dir === "in" && e.sent == null && unclaimed.has(e.conn) &&
      unclaimed.get(e.conn) !== e.host) { retransmitted.add(e.id); unclaimed.delete(e.conn); }
  const option = document.querySelector(`#conn option[value="${CSS.escape(e.conn)}"]`);
  if (e.conn && !option) {
    const o = document.createElement("option");
    o.value = e.conn; o.textContent = e.conn.replace(" ", " ↔ ");
    document.getElementById("conn").appendChild(o);
  }
  if (e.kind === "state" && e.conn && !stepped) closing(e);
}

function closing(e) {
  // A connection is closed when the last state of every host that reported it is CLOSED
  // (web/log.py's rule); beyond the FULL newest closed ones, the oldest are summed up.
  const states = lastState.get(e.conn) || new Map();
  lastState.set(e.conn, states.set(e.host, e.new));
  closed.delete(e.conn);  // (a new incarnation of the four-tuple reopens it)
  if ([...states.values()].every((st) => st === "CLOSED")) closed.set(e.conn, true);
  if (closed.size <= FULL + FULL / 5) return;  // summed up in batches: one pass over the events each
  const old = new Set([...closed.keys()].slice(0, closed.size - FULL));
  const sums = new Map([...old].map((c) => [c, { id: -1, t: 0, kind: "summary", host: "", conn: c, first: null,
                                                   events: 0, segments: 0, retransmits: 0, states: {} }]));
  const gone = new Set();
  for (const g of events) {
    const sum = sums.get(g.conn);
    if (!sum) continue;
    gone.add(g.id);
    sum.id = g.id; sum.t = g.t; sum.events += 1;
    if (sum.first === null) sum.first = g.t;
    if (g.kind === "segment" && g.dir === "out") sum.segments += 1;
    if (g.kind === "retransmit") sum.retransmits += 1;
    if (g.kind === "state") (sum.states[g.host] = sum.states[g.host] || [g.old]).push(g.new);
  }
  for (const c of old) {
    closed.delete(c); lastState.delete(c); unclaimed.delete(c);
    summaries.push(sums.get(c));
    document.querySelector(`#conn option[value="${CSS.escape(c)}"]`)?.remove();
  }
  while (summaries.length > SUMMARIES) summaries.shift();
  forget(gone);
}

function forget(ids) {
  // Drop these events and what refers to them.
  const kept = events.filter((g) => !ids.has(g.id));
  events.splice(0, events.length, ...kept);
  for (const id of ids) { byId.delete(id); arrivalOf.delete(id); dropOf.delete(id); faultsOf.delete(id);
                          retransmitted.delete(id); }
  position.clear();
  events.forEach((g, i) => position.set(g.id, i));
}

// ---------------------------------------------------------------- which events are shown
function endTime() {
  const revealed = stepped ? Math.min(step, events.length) : events.length;
  const last = revealed ? events[revealed - 1].t : 0;
  if (SETTINGS.mode === "live" && SETTINGS.source && SETTINGS.clock_runs !== false && !paused && cursor === null)
    return last + (performance.now() - lastArrival) / 1000;  // live: the clock runs between events
  return last;
}
function shownTime() { return cursor !== null ? cursor : endTime(); }

function visible(limit = stepped ? step : events.length, t = shownTime()) {
  const conn = document.getElementById("conn").value;
  const out = [];
  for (let i = 0; i < limit && i < events.length; i++) {
    const e = events[i];
    if (e.t > t + 1e-9) break;
    if (conn && e.conn && e.conn !== conn) continue;
    out.push(e);
  }
  return out;
}

// ---------------------------------------------------------------- time to y, with breaks
// Same rule as trace/timescale.py: a gap longer than 3 s and 20x the median gap is a break
// drawn BREAK px long; everything else is y proportional to time, except that an instant with
// several arrows (a SYN in and its SYN-ACK out, the pieces of a TSO packet, a shell whose time
// stands still) gets TIE px for each before the next instant.
const TOP = 70, BREAK = 48, BREAK_SECONDS = 3, BREAK_FACTOR = 20, TIE = 14;
const isRow = (e) => (e.kind === "segment" && !(e.dir === "in" && e.sent != null)) ||
                     (e.kind === "fault" && e.seg == null && e.action === "drop");  // drawn as an arrow
function layout(shown) {
  const rows = new Map();  // instant -> arrows drawn at it
  for (const e of shown) if (isRow(e)) rows.set(e.t, (rows.get(e.t) || 0) + 1);
  const room = (t) => ((rows.get(t) || 0) > 1 ? rows.get(t) * TIE : 0);
  // Zoomed on a span: its two ends are moments of the drawing too, so the span fills it.
  const moments = shown.map((e) => e.t).concat(span ? [span.from, span.to] : []);
  const times = [...new Set(moments)].sort((a, b) => a - b);
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  const positive = gaps.filter((g) => g > 0).sort((a, b) => a - b);
  const median = positive.length ? positive[Math.floor((positive.length - 1) / 2)] : 0;
  const isBreak = gaps.map((g) => g > BREAK_SECONDS && g > BREAK_FACTOR * median);
  const kept = gaps.filter((g, i) => !isBreak[i] && g > 0);
  const total = kept.reduce((a, b) => a + b, 0);
  // The shortest gap gets 14 px, unless the drawing would pass 2400 px: then it shrinks to fit.
  let scale = kept.length ? 14 / Math.max(Math.min(...kept), 0.0005) : 100;
  if (total * scale > 2400) scale = 2400 / total;
  scale *= Number(document.getElementById("zoom").value);
  const ys = [TOP], breaks = [];
  for (let i = 0; i < gaps.length; i++) {
    const at = ys[i] + room(times[i]);
    if (isBreak[i]) { breaks.push({ y: at + BREAK / 2, from: times[i], to: times[i + 1] }); ys.push(at + BREAK); }
    else ys.push(Math.max(ys[i] + gaps[i] * scale, at));
  }
  const y = (t) => {  // exact at known moments; after the last one, a short stub (the clock runs on)
    let lo = 0, hi = times.length - 1;
    if (!times.length || t <= times[0]) return TOP;  // (before a zoomed span: its top)
    if (t >= times[hi]) return ys[hi] + Math.min((t - times[hi]) * scale, BREAK);
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (times[mid] <= t) lo = mid; else hi = mid - 1; }
    return isBreak[lo] ? ys[lo] : Math.min(ys[lo] + (t - times[lo]) * scale, ys[lo + 1]);
  };
  const time = (at) => {  // y back to time (a drag on the axis): the inverse of y
    let i = 0;
    while (i + 1 < ys.length && ys[i + 1] <= at) i++;
    if (!times.length) return 0;
    if (i + 1 >= ys.length) return times[i] + Math.max(at - ys[i], 0) / scale;
    const part = Math.max(at - ys[i], 0) / (ys[i + 1] - ys[i] || 1);
    return times[i] + part * (times[i + 1] - times[i]);
  };
  const end = times.length ? ys[ys.length - 1] + room(times[times.length - 1]) : TOP;
  return { y, time, scale, from: times.length ? times[0] : 0, breaks, end,
           ties: new Map(), tso: new Map() };
}

// ---------------------------------------------------------------- drawing
const X = [340, 680];   // the two lifelines
const WIDTH = 1000;
const STATE_COLOURS = { ESTABLISHED: "#9d9", SYN_SENT: "#cce", SYN_RECEIVED: "#cce", LISTEN: "#ddd",
  FIN_WAIT_1: "#fc9", FIN_WAIT_2: "#fd9", CLOSE_WAIT: "#fc9", CLOSING: "#fb9", LAST_ACK: "#fb9",
  TIME_WAIT: "#f99", CLOSED: "#eee" };

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
const col = (host) => (host === leftHost ? 0 : 1);
const ms = (t) => `${(t * 1000).toFixed(3)} ms`;

function seconds(s) {
  return s >= 1 ? `${s.toFixed(s >= 10 ? 0 : 1)} s` : `${Math.round(s * 1000)} ms`;
}

const inSpan = (e) => !span || (e.t >= span.from - 1e-9 && e.t <= span.to + 1e-9);

function draw() {
  // States and timers are known from before a zoomed span (a lifeline's colour where it begins);
  // everything else only inside it.
  let before = visible();
  // No more than DRAW events drawn: the newest up to the time shown (older: scrub or zoom back).
  const floor = before.length > DRAW ? before[before.length - DRAW].t : -Infinity;
  if (floor > -Infinity) before = before.filter((e) => e.t >= floor || e.kind === "state" || e.kind === "timer");
  const shown = before.filter((e) => inSpan(e) && e.t >= floor);
  // The scale comes from every event known (of the chosen connection), not only those shown:
  // stepping and scrubbing reveal a drawing that holds still.
  const known = visible(events.length, Infinity).filter((e) => inSpan(e) && e.t >= floor);
  const L = layout(known);
  lastLayout = L;
  const svg = document.getElementById("ladder");
  svg.replaceChildren();
  // Both hosts recorded segments (a --sim lab): an arrow without an arrival was lost.
  const segHosts = new Set(known.filter((e) => e.kind === "segment").map((e) => e.host));
  svg.dataset.twoHosts = segHosts.size > 1 ? "yes" : "no";
  const end = shownTime();
  const bottom = Math.max(L.end, L.y(end)) + 40;
  svg.setAttribute("height", bottom + 20);
  svg.setAttribute("width", WIDTH);
  svg.dataset.scale = L.scale;
  svg.dataset.top = TOP;
  svg.dataset.from = L.from;  // y = top + scale x (t - from), between breaks
  svg.dataset.span = span ? `${span.from},${span.to}` : "";
  document.getElementById("unzoom").hidden = !span;
  // The time axis: drag along it to zoom on a span of time.
  svg.appendChild(el("rect", { class: "axis", x: 0, y: TOP - 8, width: 64, height: Math.max(bottom - TOP, 16) }));
  if (drag) svg.appendChild(el("rect", { class: "selection", x: 0, y: Math.min(drag.y0, drag.y1), width: WIDTH,
                                         height: Math.abs(drag.y1 - drag.y0) }));
  // Column heads: each side's host and address.
  const seg = shown.find((e) => e.kind === "segment" || e.kind === "state");
  const heads = [leftHost, shown.map((e) => e.host).find((h) => h !== leftHost) || w("peer")];
  heads.forEach((h, i) => {
    const addr = seg ? (i === 0 ? (seg.host === leftHost ? seg.local : seg.remote)
                                : (seg.host === leftHost ? seg.remote : seg.local)) : "";
    svg.appendChild(el("text", { x: X[i], y: 24, "text-anchor": "middle", class: "host" }, h));
    svg.appendChild(el("text", { x: X[i], y: 40, "text-anchor": "middle" }, addr));
    svg.appendChild(el("line", { x1: X[i], y1: 50, x2: X[i], y2: bottom, class: "lifeline" }));
  });
  for (const b of L.breaks) {
    const g = el("g", { class: "break" });
    g.appendChild(el("line", { x1: 60, y1: b.y, x2: WIDTH - 20, y2: b.y }));
    g.appendChild(el("text", { x: (X[0] + X[1]) / 2, y: b.y - 4, "text-anchor": "middle" },
      `⋯ ${w("idle")} ${seconds(b.to - b.from)} ⋯`));
    svg.appendChild(g);
  }
  // Notes beside the lifelines (states, calls, drops) go at their time, or just below the one
  // before them on the same side when the moments are closer than a line: lanes keep them apart.
  const notes = [];
  drawStates(svg, before, L, end, notes);
  drawTimers(svg, before, L, end);
  const free = [0, 0, 0, 0];  // the next free y in each lane: left notes, arrow labels, right notes, ticks
  const place = (lane, y) => { const at = Math.max(y, free[lane]); free[lane] = at + 13; return at; };
  for (const e of shown) {
    if (e.kind === "segment" || (e.kind === "fault" && e.seg == null && e.action === "drop")) drawSegment(svg, e, L, place);
    else if (e.kind === "call" || e.kind === "drop") {
      const g = el("g", { class: e.kind === "call" ? "call" : "note", "data-host": e.host, "data-t": e.t });
      svg.appendChild(g);
      notes.push({ t: e.t, id: e.id, c: col(e.host), g, text: lang === "zh" ? e.text_zh : e.text });
    }
  }
  for (const [first, s] of L.tso) {
    const x = s.from ? X[1] + 4 : X[0] - 4, dx = s.from ? 6 : -6;
    svg.appendChild(el("path", { class: "tsocut", "data-first": first,
                                 d: `M${x + dx},${s.y1} h${-dx} V${s.y2} h${dx}` }));
  }
  notes.sort((a, b) => a.t - b.t || a.id - b.id);
  for (const n of notes) {
    const y = place(n.c ? 2 : 0, L.y(n.t) + 11);
    n.g.appendChild(el("text", { x: n.c ? X[1] + 10 : X[0] - 10, y, "text-anchor": n.c ? "start" : "end" }, n.text));
  }
  // Notes pushed down by their lanes may pass the last instant: the drawing grows to hold them.
  const lowest = Math.max(...free) + 20;
  if (lowest > bottom) {
    svg.setAttribute("height", lowest + 20);
    for (const line of svg.querySelectorAll("line.lifeline")) line.setAttribute("y2", lowest);
  }
  document.getElementById("clock").textContent = ms(end);
  const scrub = document.getElementById("scrub");
  scrub.max = events.length ? events[events.length - 1].t : 0;
  if (cursor === null) scrub.value = scrub.max;
  drawPanels(shown, end);
  if ((!paused || stepped) && shown.length !== drawnCount) {  // new rows: keep the newest in sight
    drawnCount = shown.length;
    const rows = svg.querySelectorAll("g.seg, g.call, g.state");
    if (rows.length) rows[rows.length - 1].scrollIntoView({ block: "center" });
  }
}

function drawSegment(svg, e, L, place) {
  // Who sent it: an "out" segment from its host; an "in" one no sender recorded from the other side.
  if (e.kind === "segment" && e.dir === "in" && e.sent != null) return;  // drawn as its sender's arrow
  const from = e.kind === "fault" ? 1 - col(e.host) : e.dir === "out" ? col(e.host) : 1 - col(e.host);
  // Segments of one instant (a SYN in, its SYN-ACK out in the same millisecond) would lie on one
  // line: each later one is drawn TIE px lower (the layout left room), its data-y still the
  // instant's place in time; one that arrives at the instant it left is drawn level.
  const ties = L.ties.get(e.t) || 0;
  L.ties.set(e.t, ties + 1);
  const y1 = L.y(e.t) + ties * TIE;
  const arrival = arrivalOf.get(e.id);
  const dropped = e.kind === "fault" || dropOf.has(e.id);
  const twoHosts = svg.dataset.twoHosts === "yes";
  let x2 = X[1 - from], y2 = y1, lost = dropped, inflight = false;
  const arrived = arrival && byId.has(arrival.id) && arrival.t <= shownTime() + 1e-9 &&
                  (!stepped || position.get(arrival.id) < step);
  if (arrived) y2 = arrival.t === e.t ? y1 : L.y(arrival.t);
  else if (dropped || (twoHosts && !arrival && e.dir === "out")) { x2 = (X[0] + X[1]) / 2; lost = true; }
  else if (arrival) { x2 = (X[0] + X[1]) / 2; inflight = true; }
  const retrans = e.retransmit || retransmitted.has(e.id);
  const joined = arrived && arrival.gro ? arrival.gro : null;  // it arrived joined with others by GRO
  const cls = ["seg", retrans ? "retransmit" : "", lost ? "lost" : "", inflight ? "inflight" : "",
               e.tso ? "tso" : "", joined || e.gro ? "gro" : "",
               selected === e.id ? "selected" : ""].filter(Boolean).join(" ");
  const g = el("g", { class: cls, "data-id": e.id, "data-t": e.t, "data-y": L.y(e.t).toFixed(3),
                      "data-label": e.label, "data-flags": e.flags, "data-from": from ? "right" : "left" });
  if (e.tso) { g.dataset.tso = `${e.tso.index}/${e.tso.count}`; g.dataset.tsoFirst = e.tso.first; }
  if (joined || e.gro) g.dataset.gro = (joined || e.gro).count;
  if (e.tso) {  // a bracket beside the sender's lifeline spans the pieces of one packet
    const span = L.tso.get(e.tso.first) || { y1: y1, y2: y1, from };
    span.y2 = y1; L.tso.set(e.tso.first, span);
  }
  g.appendChild(el("line", { x1: X[from], y1, x2, y2 }));
  const dir = x2 > X[from] ? 1 : -1;  // arrow head, or a cross where it was lost
  if (lost) g.appendChild(el("text", { x: x2 - 4, y: y2 + 4, class: "cross" }, "✕"));
  else g.appendChild(el("path", { d: `M${x2},${y2} l${-8 * dir},-4 l0,8 z`, fill: "currentColor" }));
  let text = e.label;
  if (retrans) text += ` (${w("retransmit")})`;
  if (dropped) text += ` [${w("dropped")}]`;
  else if (lost) text += ` [${w("lost")}]`;
  for (const action of faultsOf.get(e.id) || []) text += ` [${action}]`;
  // Cut from one TSO packet by the sender's host, joined by GRO at the receiver: as the pieces go.
  if (e.tso) text += ` [${w("tso")} ${e.tso.index + 1}/${e.tso.count}]`;
  if (joined) text += ` [${w("gro")} ${joined.count}]`;
  else if (e.kind === "segment" && e.gro) text += ` [${w("gro")} ${e.gro.count}]`;
  const ty = place(1, (y1 + y2) / 2 - 3);
  g.appendChild(el("text", { x: (X[0] + X[1]) / 2, y: ty, "text-anchor": "middle" }, text));
  g.appendChild(el("text", { x: 8, y: place(3, y1 + 4), class: "tick" }, `${(e.t * 1000).toFixed(1)} ms`));
  g.addEventListener("click", () => { selected = e.id; draw(); });
  svg.appendChild(g);
}

function drawStates(svg, shown, L, end, notes) {
  // Each host's lifeline coloured by its state, the state named where it begins.
  const current = new Map();  // host|conn -> {state, t}
  const spans = [];
  for (const e of shown) {
    if (e.kind !== "state") continue;
    const key = `${e.host}|${e.conn}`;
    const open = current.get(key);
    if (open) spans.push({ ...open, to: e.t });
    current.set(key, { host: e.host, conn: e.conn, state: e.new, from: e.t, id: e.id });
  }
  for (const open of current.values()) spans.push({ ...open, to: span ? Math.min(end, span.to) : end });
  for (const s of spans) {
    // Outside the drawing: ended before its top (a zoomed span's, or the oldest event drawn), or
    // begun after a zoomed span.
    if (s.to < L.from - 1e-9 || (span && s.from > span.to + 1e-9)) continue;
    const c = col(s.host);
    const g = el("g", { class: "state", "data-host": s.host, "data-state": s.state, "data-t": s.from });
    const y1 = L.y(s.from), y2 = Math.max(L.y(s.to), y1 + 2);
    g.appendChild(el("rect", { x: X[c] - 4, y: y1, width: 8, height: y2 - y1, fill: STATE_COLOURS[s.state] || "#ccc" }));
    svg.appendChild(g);
    notes.push({ t: Math.max(s.from, L.from), id: s.id, c, g, text: s.state });
  }
}

function activeTimers(shown, end) {
  // Timers set and not yet cancelled, fired or set again, as of `end`.
  const timers = new Map();
  for (const e of shown) {
    if (e.kind !== "timer") continue;
    const key = `${e.host}|${e.conn}|${e.timer}`;
    if (e.action === "set" && e.deadline != null) timers.set(key, e);
    else timers.delete(key);
  }
  return [...timers.values()].filter((e) => e.deadline > end - 1e-9 || e.timer === "TIME_WAIT");
}

function drawTimers(svg, shown, L, end) {
  for (const e of activeTimers(shown, end)) {
    const c = col(e.host), x = c ? X[c] + 10 : X[c] - 10;
    const y1 = L.y(e.t), y2 = L.y(Math.min(e.deadline, end));
    svg.appendChild(el("line", { x1: x, y1, x2: x, y2: Math.max(y2, y1 + 2), class: "timerbar",
                                 "data-timer": e.timer }));
  }
}

function drawPanels(shown, end) {
  const timers = document.getElementById("timers");
  timers.replaceChildren();
  for (const e of activeTimers(shown, end)) {
    const li = document.createElement("li");
    const left = Math.max(e.deadline - end, 0);
    li.className = "timer";
    li.dataset.timer = e.timer; li.dataset.left = left.toFixed(3); li.dataset.host = e.host;
    li.textContent = `${e.timer} ${e.host} ${e.local}: ${left > 0 ? `${left.toFixed(3)} s ${w("left")}` : w("fired")}` +
      ` / ${seconds(e.deadline - e.t)}`;
    timers.appendChild(li);
  }
  const counters = document.getElementById("counters");
  counters.replaceChildren();
  const moved = new Map();
  for (const e of shown) if (e.kind === "counters") for (const [k, v] of Object.entries(e.moved))
    moved.set(`${e.host} ${k}`, (moved.get(`${e.host} ${k}`) || 0) + v);
  for (const [k, v] of moved) {
    if (v === 0) continue;  // moved and came back (CurrEstab +1 -1)
    const li = document.createElement("li"); li.textContent = `${k} ${v > 0 ? "+" : ""}${v}`; counters.appendChild(li);
  }
  const details = document.getElementById("details");
  const e = byId.get(selected);
  details.textContent = e ? [e.tcpdump || e.label, "",
    `host ${e.host} (${e.dir})  t ${ms(e.t)}`, `flags [${e.flags}] seq ${e.seq} ack ${e.ack ?? "-"} len ${e.len} win ${e.win ?? "-"}`,
    `options ${JSON.stringify(e.options || {})}`].join("\n") : w("nothing");
  const list = document.getElementById("summaries");
  list.replaceChildren();
  for (const s of summaries.slice(-50)) {
    const li = document.createElement("li");
    li.textContent = `${s.conn}: ${s.segments} seg, ${s.retransmits} rtx, ` +
      Object.entries(s.states).map(([h, p]) => `${h} ${p.join("→")}`).join("; ");
    list.appendChild(li);
  }
  if (stepped) drawStep();
}

// ---------------------------------------------------------------- the lab, stepped
function pendingQuestion() {
  const next = events[step];
  return next && questions.has(next.id) && !answered.has(next.id) ? questions.get(next.id) : null;
}

function drawStep() {
  const box = document.getElementById("question");
  document.getElementById("step").hidden = false;
  document.getElementById("progress").textContent = `${w("step")} ${step} / ${events.length}`;
  box.replaceChildren();
  const next = events[step];
  const q = next && questions.get(next.id);
  const nextButton = document.getElementById("next");
  nextButton.disabled = step >= events.length || pendingQuestion() !== null;
  if (q) {
    const h = document.createElement("h2"); h.textContent = w("question"); box.appendChild(h);
    box.dataset.before = q.before;
    const made = answered.get(q.before);
    q.choices.forEach((c, i) => {
      const b = document.createElement("button");
      b.type = "button"; b.className = "choice"; b.textContent = c[lang] || c.en;
      if (made !== undefined && i === q.answer) b.classList.add("right");
      if (made === i && i !== q.answer) b.classList.add("wrong");
      b.addEventListener("click", () => { answered.set(q.before, i); draw(); });
      box.appendChild(b);
    });
    if (made !== undefined) {
      const p = document.createElement("p");
      p.className = "answer";
      p.textContent = `${made === q.answer ? w("right") : w("wrong")} ${w("answer")} ${q.why[lang] || q.why.en}`;
      box.appendChild(p);
    }
  }
  const verdict = document.getElementById("verdict");
  verdict.hidden = step < events.length;
  if (!verdict.hidden && SETTINGS.lab) {
    const lab = SETTINGS.lab;
    verdict.replaceChildren();
    const p = document.createElement("p"); p.textContent = lang === "zh" ? lab.zh : lab.en; verdict.appendChild(p);
    const ul = document.createElement("ul");
    for (const c of lab.checks) {
      const li = document.createElement("li"); li.className = c.ok ? "pass" : "fail";
      li.textContent = `${c.ok ? "✓" : "✗"} ${lang === "zh" ? c.zh : c.what}`; ul.appendChild(li);
    }
    verdict.appendChild(ul);
    const v = document.createElement("h2"); v.id = "verdict-word"; v.className = lab.verdict;
    v.textContent = `${w("verdict")}: ${w(lab.verdict)}`; verdict.appendChild(v);
  }
}

// ---------------------------------------------------------------- controls
function words() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-text]")) node.textContent = w(node.dataset.text);
  document.getElementById("pause").textContent = paused ? w("resume") : w("pause");
  document.getElementById("lang").textContent = w("other");
  document.getElementById("next").textContent = w("next");
  document.getElementById("unzoom").textContent = w("unzoom");
  document.getElementById("unzoom").title = w("axis");
  const lab = SETTINGS.lab;
  document.getElementById("title").textContent = lab ? `${lab.name}: ${lang === "zh" ? lab.title_zh : lab.title}` : "minitcp";
}

document.getElementById("pause").addEventListener("click", () => {
  paused = !paused;
  if (paused) cursor = shownTime(); else cursor = null;
  words(); draw();
});
document.getElementById("scrub").addEventListener("input", (ev) => {
  cursor = Number(ev.target.value); paused = true; words(); draw();
});
document.getElementById("zoom").addEventListener("change", draw);
// Zoom on a time span: press on the time axis (the drawing's left edge), drag down or up, let go.
const svgY = (ev) => ev.clientY - document.getElementById("ladder").getBoundingClientRect().top;
document.getElementById("ladder").addEventListener("mousedown", (ev) => {
  if (!ev.target.classList.contains("axis")) return;
  ev.preventDefault();
  drag = { y0: svgY(ev), y1: svgY(ev) };
});
window.addEventListener("mousemove", (ev) => { if (drag) { drag.y1 = svgY(ev); draw(); } });
window.addEventListener("mouseup", () => {
  if (!drag) return;
  const [a, b] = [Math.min(drag.y0, drag.y1), Math.max(drag.y0, drag.y1)];
  drag = null;
  if (b - a >= 4 && lastLayout) zoomTo(lastLayout.time(a), lastLayout.time(b));
  else draw();
});
function zoomTo(from, to) { span = to > from ? { from, to } : null; drawnCount = -1; draw(); }
document.getElementById("unzoom").addEventListener("click", () => zoomTo(0, 0));
window.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && span) zoomTo(0, 0); });
document.getElementById("conn").addEventListener("change", draw);
document.getElementById("lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; words(); draw(); });
document.getElementById("next").addEventListener("click", () => {
  if (step < events.length && pendingQuestion() === null) { step += 1; draw(); }
});

// ---------------------------------------------------------------- start
for (const e of SETTINGS.events || []) add(e);
if (PARAMS.has("conn")) document.getElementById("conn").value = PARAMS.get("conn");
if (PARAMS.has("zoom")) document.getElementById("zoom").value = PARAMS.get("zoom");
if (PARAMS.has("span")) {  // ?span=FROM,TO (seconds): zoomed on that span
  const [from, to] = PARAMS.get("span").split(",").map(Number);
  if (to > from) span = { from, to };
}
if (PARAMS.has("t")) { cursor = Number(PARAMS.get("t")); paused = true; }  // ?t=SECONDS: scrubbed there
if (stepped) {
  // ?step=N shows the first N events (all: every one); ?answer=K answers the question then pending.
  const asked = PARAMS.get("step");
  step = asked === "all" ? events.length : Math.min(Number(asked) || 0, events.length);
  if (asked === "all") for (const q of questions.values()) answered.set(q.before, q.answer);
  const pending = pendingQuestion();
  if (pending && PARAMS.has("answer")) { answered.set(pending.before, Number(PARAMS.get("answer"))); }
}
words();
draw();
if (SETTINGS.source) {
  // Live: events stream in; the view follows them unless paused or scrubbed back.
  let queued = false;
  const source = new EventSource(SETTINGS.source);
  source.onmessage = (m) => {
    add(JSON.parse(m.data));
    lastArrival = performance.now();
    if (!queued && !paused) { queued = true; setTimeout(() => { queued = false; if (!paused) draw(); }, 100); }
  };
  setInterval(() => { if (!paused) draw(); }, 500);  // timers count down between events
}
