// Operator dashboard: plain JavaScript, no build step. Reads the audit routes with the bearer token
// kept in sessionStorage (this tab only) and /v1/audit/health, and refreshes every few seconds.
// Every value from the server is written with textContent, never as HTML. Charts are uPlot, served
// from the agent's jar (a WebJar), never from a CDN.
"use strict";

const TOKEN_KEY = "gpuflow.auditToken";
const REFRESH_MS = 5000;
// A peer counts as connected while its last handshake is younger than WireGuard's reject-after time.
const CONNECTED_SECONDS = 180;

// The seed's targets for connection quality.
const TARGET_SETUP_SECONDS = 30;
const TARGET_SUCCESS = 0.99;
const TARGET_DROP_RATE = 0.01;
// Sparklines are fetched for at most this many sessions per refresh (the table shows them first).
const MAX_SPARKLINES = 40;
// Setup-time histogram bins, in seconds (the last one is open-ended).
const SETUP_BINS = [0, 2, 5, 10, 20, 30, 60, 120];

const $ = (id) => document.getElementById(id);
let timer = null;
let selectedRental = null;
const sparklines = new Map();
const charts = {};

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function showSignIn(message) {
  clearTimeout(timer);
  $("dashboard").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("token-error").hidden = !message;
  $("token-error").textContent = message || "";
  $("token").focus();
}

function showDashboard() {
  $("sign-in").hidden = true;
  $("dashboard").hidden = false;
  $("sign-out").hidden = false;
}

class Unauthorized extends Error {}

async function audit(path) {
  const response = await fetch(path, { headers: { Authorization: "Bearer " + token(), Accept: "application/json" } });
  if (response.status === 401) {
    const body = await response.json().catch(() => ({}));
    throw new Unauthorized(body.message || "the token was refused");
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(path + ": " + (body.message || response.status));
  }
  return response.json();
}

async function activeSessions() {
  const items = [];
  let cursor = null;
  // At most 10 pages of 1000: far more than one host carries.
  for (let page = 0; page < 10; page++) {
    const query = "/v1/audit/sessions?state=ACTIVE&limit=1000" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    const result = await audit(query);
    items.push(...result.items);
    cursor = result.nextCursor;
    if (!cursor) break;
  }
  return items;
}

async function health() {
  // Actuator lives on the management port; the renter port gives the same health to token holders.
  try {
    return await audit("/v1/audit/health");
  } catch (e) {
    if (e instanceof Unauthorized) throw e;
    return null;
  }
}

function shortAddress(address) {
  return address && address.length > 12 ? address.slice(0, 6) + "…" + address.slice(-4) : address || "—";
}

function duration(seconds) {
  if (seconds < 0) return "ended";
  if (seconds < 60) return Math.floor(seconds) + " s";
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return minutes + " min";
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return hours + " h " + String(minutes % 60).padStart(2, "0") + " min";
  return Math.floor(hours / 24) + " d " + (hours % 24) + " h";
}

function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(n);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return (unit === 0 ? value : value.toFixed(1)) + " " + units[unit];
}

function cell(row, text, className, title) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (title) td.title = title;
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function renderSessions(sessions, peers, now) {
  const byKey = new Map(peers.map((peer) => [peer.publicKey, peer]));
  const tbody = $("session-rows");
  const rows = [];
  let connected = 0;
  let rx = 0;
  let tx = 0;
  for (const session of sessions) {
    const peer = byKey.get(session.peerPublicKey);
    const tr = document.createElement("tr");
    tr.dataset.rentalId = String(session.rentalId);
    tr.className = "clickable";
    tr.tabIndex = 0;
    tr.title = "show this session's history";
    tr.addEventListener("click", () => showHistory(String(session.rentalId)));
    tr.addEventListener("keydown", (event) => {
      if (event.key === "Enter") showHistory(String(session.rentalId));
    });
    cell(tr, "#" + session.rentalId, "mono rental");
    cell(tr, shortAddress(session.renter), "mono renter", session.renter);
    cell(tr, session.tunnelIp || "waiting for address", "mono address");

    const endsAt = peer && peer.endsAt ? Date.parse(peer.endsAt) : null;
    const left = endsAt === null ? null : (endsAt - now) / 1000;
    const leftCell = cell(tr, left === null ? "—" : duration(left), "time-left", peer && peer.endsAt ? "ends " + peer.endsAt : "");
    if (left !== null && left < 600) leftCell.classList.add("soon");

    const handshakeCell = cell(tr, "", "handshake");
    const dot = document.createElement("span");
    const label = document.createElement("span");
    if (!peer) {
      dot.className = "dot bad";
      label.textContent = "no peer on interface";
    } else if (!peer.latestHandshake) {
      dot.className = "dot warn";
      label.textContent = "never";
    } else {
      const age = (now - Date.parse(peer.latestHandshake)) / 1000;
      const fresh = age < CONNECTED_SECONDS;
      if (fresh) connected++;
      dot.className = "dot " + (fresh ? "ok" : "warn");
      label.textContent = duration(Math.max(0, age)) + " ago";
      handshakeCell.title = peer.latestHandshake + (peer.endpoint ? " from " + peer.endpoint : "");
    }
    handshakeCell.append(dot, label);

    const peerRx = peer ? peer.rxBytes : session.rxBytes;
    const peerTx = peer ? peer.txBytes : session.txBytes;
    rx += Number(peerRx || 0);
    tx += Number(peerTx || 0);
    const state = session.connectionState;
    const stateCell = cell(tr, state || "no peer", "connection" + (state ? " state-" + state : ""));
    const details = [];
    if (session.setupSeconds !== null && session.setupSeconds !== undefined) details.push("setup " + seconds(session.setupSeconds));
    if (session.connectedSeconds) details.push("connected " + duration(session.connectedSeconds));
    if (session.drops) details.push(session.drops + (session.drops === 1 ? " drop" : " drops"));
    stateCell.title = details.join(" · ");

    const sparkCell = cell(tr, "", "throughput");
    if (peer && session.rentalId !== null) sparkCell.appendChild(sparkline(String(session.rentalId)).element);

    cell(tr, bytes(peerRx), "num rx");
    cell(tr, bytes(peerTx), "num tx");
    if (String(session.rentalId) === selectedRental) tr.classList.add("selected");
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
  // Sparklines of sessions no longer shown are dropped with their plots.
  const shown = new Set(sessions.map((session) => String(session.rentalId)));
  for (const [id, spark] of sparklines) {
    if (!shown.has(id)) {
      if (spark.plot) spark.plot.destroy();
      sparklines.delete(id);
    }
  }
  $("no-sessions").hidden = sessions.length > 0;
  $("active-count").textContent = String(sessions.length);
  $("connected-count").textContent = String(connected);
  $("traffic-total").textContent = "received " + bytes(rx) + " · sent " + bytes(tx);
}

function tile(id, state) {
  const element = $(id);
  element.classList.remove("ok", "warn", "bad");
  if (state) element.classList.add(state);
}

function renderHealth(report, now) {
  const components = (report && report.components) || {};
  const db = components.db;
  $("db-status").textContent = db ? db.status : "unknown";
  tile("tile-db", db && db.status === "UP" ? "ok" : "bad");

  const chain = components.chain;
  if (chain) {
    const d = chain.details || {};
    $("chain-status").textContent = d.lag >= 0 ? "lag " + d.lag : chain.status;
    $("chain-detail").textContent = chain.status + " · head " + d.head + " · checkpoint " + d.checkpoint
      + (d.lastError ? " · " + d.lastError : "");
    tile("tile-chain", chain.status === "UP" ? "ok" : chain.status === "DOWN" ? "bad" : "warn");
  } else {
    $("chain-status").textContent = "unknown";
    $("chain-detail").textContent = "";
    tile("tile-chain", "warn");
  }

  const wireguard = components.wireguard;
  const lastPass = wireguard && wireguard.details && wireguard.details.lastPass;
  if (lastPass && lastPass.at) {
    $("reconcile-status").textContent = duration(Math.max(0, (now - Date.parse(lastPass.at)) / 1000)) + " ago";
    $("reconcile-detail").textContent = (lastPass.outcome || wireguard.status) + " · " + (lastPass.livePeers ?? "?") + " peers";
    tile("tile-reconcile", wireguard.status === "UP" ? "ok" : wireguard.status === "DOWN" ? "bad" : "warn");
  } else {
    $("reconcile-status").textContent = wireguard ? "none yet" : "not reported";
    $("reconcile-detail").textContent = wireguard ? wireguard.status : "no wireguard health component";
    tile("tile-reconcile", "warn");
  }
}

function seconds(value) {
  return value < 10 ? value.toFixed(1) + " s" : duration(value);
}

function percent(ratio) {
  if (ratio === null || ratio === undefined) return "–";
  const value = Math.round(ratio * 1000) / 10;
  return (Number.isInteger(value) ? value.toFixed(0) : value.toFixed(1)) + " %";
}

const haveCharts = () => typeof uPlot === "function";

function chartWidth(element, fallback) {
  return Math.max(240, Math.floor(element.clientWidth || fallback));
}

// One small plot per session, kept across refreshes so the table can be rebuilt freely.
function sparkline(rentalId) {
  let spark = sparklines.get(rentalId);
  if (!spark) {
    const element = document.createElement("div");
    element.className = "spark";
    element.dataset.rentalId = rentalId;
    spark = { element, plot: null, fetchedAt: 0 };
    sparklines.set(rentalId, spark);
  }
  return spark;
}

function throughputSeries(history) {
  const step = history.bucketSeconds || 30;
  const xs = [];
  const rx = [];
  const tx = [];
  for (const bucket of history.buckets || []) {
    xs.push(Date.parse(bucket.from) / 1000);
    rx.push(bucket.rxBytes / step);
    tx.push(bucket.txBytes / step);
  }
  return [xs, rx, tx];
}

function drawSparkline(spark, history) {
  if (!haveCharts()) return;
  const data = throughputSeries(history);
  const total = [data[0], data[1].map((value, i) => value + data[2][i])];
  spark.element.title = "last hour, " + bytes(total[1].reduce((a, b) => a + b, 0) * (history.bucketSeconds || 30))
    + " in " + (history.bucketSeconds || 30) + " s steps";
  if (spark.plot) {
    spark.plot.setData(total);
    return;
  }
  spark.plot = new uPlot({
    width: 160, height: 36, pxAlign: false,
    cursor: { show: false }, legend: { show: false }, select: { show: false },
    scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    axes: [{ show: false }, { show: false }],
    series: [{}, { stroke: "#3b5bdb", fill: "rgba(59, 91, 219, 0.15)", width: 1, points: { show: false } }],
  }, total, spark.element);
}

async function refreshSparklines(sessions) {
  const now = Date.now();
  const due = sessions.map((session) => sparklines.get(String(session.rentalId)))
    .filter((spark) => spark && spark.element.isConnected && now - spark.fetchedAt > 25000)
    .slice(0, MAX_SPARKLINES);
  await Promise.all(due.map(async (spark) => {
    const history = await audit("/v1/audit/sessions/" + encodeURIComponent(spark.element.dataset.rentalId) + "/throughput");
    spark.fetchedAt = Date.now();
    drawSparkline(spark, history);
  }));
}

function setupHistogram(values) {
  const counts = SETUP_BINS.map(() => 0);
  for (const value of values) {
    let bin = 0;
    while (bin < SETUP_BINS.length - 1 && value >= SETUP_BINS[bin + 1]) bin++;
    counts[bin]++;
  }
  return counts;
}

function binLabel(i) {
  return i === SETUP_BINS.length - 1 ? SETUP_BINS[i] + "+ s" : SETUP_BINS[i] + "–" + SETUP_BINS[i + 1] + " s";
}

function barChart(id, options, data) {
  const element = $(id);
  if (charts[id]) {
    charts[id].setData(data);
    return;
  }
  charts[id] = new uPlot(Object.assign({ width: chartWidth(element, 520), height: 180, legend: { show: false } }, options),
    data, element);
}

function renderQuality(quality) {
  const success = quality.handshakeSuccessRate;
  $("success-rate").textContent = percent(success);
  $("success-detail").textContent = quality.established + " of " + (quality.established + quality.notEstablished)
    + " established · target > 99 %";
  tile("tile-success", success === null ? null : success >= TARGET_SUCCESS ? "ok" : "bad");

  const drops = quality.dropRate;
  $("drop-rate").textContent = percent(drops);
  $("drop-detail").textContent = quality.drops + " drops · target < 1 %";
  tile("tile-drops", drops === null ? null : drops < TARGET_DROP_RATE ? "ok" : "bad");

  const setups = quality.setupSeconds.slice().sort((a, b) => a - b);
  const median = setups.length ? setups[Math.floor((setups.length - 1) / 2)] : null;
  $("setup-median").textContent = median === null ? "–" : seconds(median);
  $("setup-detail").textContent = setups.length + " setups · target < 30 s";
  tile("tile-setup", median === null ? null : median < TARGET_SETUP_SECONDS ? "ok" : "bad");

  if (!haveCharts()) return;
  const bins = SETUP_BINS.map((_, i) => i);
  const targetBin = SETUP_BINS.indexOf(TARGET_SETUP_SECONDS);
  barChart("setup-chart", {
    scales: { x: { time: false, range: [-0.5, SETUP_BINS.length - 0.5] }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    axes: [
      { splits: () => bins, values: (u, splits) => splits.map(binLabel), size: 30 },
      { size: 40 },
    ],
    series: [{}, { label: "setups", fill: "rgba(59, 91, 219, 0.55)", stroke: "#3b5bdb",
      paths: uPlot.paths.bars({ size: [0.7, 60] }), points: { show: false } }],
    hooks: { draw: [(u) => {
      // The 30 s target: the edge between the bins below and above it.
      const x = u.valToPos(targetBin - 0.5, "x", true);
      const ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "#c92a2a";
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.restore();
    }] },
  }, [bins, setupHistogram(setups)]);

  const hours = quality.dropsByHour.map((hour) => Date.parse(hour.from) / 1000 + 1800);
  barChart("drops-chart", {
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    axes: [{ size: 30 }, { size: 40 }],
    series: [{}, { label: "drops", fill: "rgba(201, 42, 42, 0.55)", stroke: "#c92a2a",
      paths: uPlot.paths.bars({ size: [0.8, 40] }), points: { show: false } }],
  }, [hours, quality.dropsByHour.map((hour) => hour.drops)]);
}

// One session's panel: its audit trail (created, peer_added, ssh_keys_set, ...) and its traffic,
// refreshed with the table while open.
async function showHistory(rentalId) {
  selectedRental = rentalId;
  for (const row of document.querySelectorAll("#session-rows tr")) {
    row.classList.toggle("selected", row.dataset.rentalId === rentalId);
  }
  $("history").hidden = false;
  $("history-title").textContent = "Session #" + rentalId;
  $("history-error").hidden = true;
  try {
    const path = "/v1/audit/sessions/" + encodeURIComponent(rentalId);
    const [events, history] = await Promise.all([audit(path + "/events"), audit(path + "/throughput")]);
    if (selectedRental !== rentalId) return; // another session was opened, or the panel closed, meanwhile
    const rows = (events.events || []).map((event) => {
      const tr = document.createElement("tr");
      tr.className = "event kind-" + event.kind;
      tr.dataset.kind = event.kind;
      cell(tr, new Date(Date.parse(event.at)).toLocaleString(), "mono when", event.at);
      cell(tr, event.kind.replaceAll("_", " "), "kind kind-" + event.kind);
      cell(tr, event.detail || "", "detail");
      return tr;
    });
    $("history-rows").replaceChildren(...rows);
    if (haveCharts()) {
      if (charts.history) charts.history.destroy();
      charts.history = new uPlot({
        width: chartWidth($("history-chart"), 1000), height: 160,
        scales: { x: { time: true } },
        axes: [{}, { size: 60, values: (u, splits) => splits.map((v) => bytes(v) + "/s") }],
        series: [{}, { label: "received", stroke: "#3b5bdb", width: 1.5 }, { label: "sent", stroke: "#2b8a3e", width: 1.5 }],
      }, throughputSeries(history), $("history-chart"));
    }
  } catch (e) {
    if (e instanceof Unauthorized) {
      showSignIn(e.message);
      return;
    }
    $("history-error").hidden = false;
    $("history-error").textContent = "Could not load the history: " + e.message;
  }
}

async function refresh() {
  clearTimeout(timer);
  try {
    const [sessions, peers, report, quality] = await Promise.all([activeSessions(), audit("/v1/peers"), health(),
      audit("/v1/audit/connections")]);
    const now = Date.now();
    renderSessions(sessions, peers.peers || [], now);
    renderHealth(report, now);
    showDashboard();
    renderQuality(quality);
    await refreshSparklines(sessions);
    if (selectedRental !== null) await showHistory(selectedRental);
    $("load-error").hidden = true;
    $("refreshed").textContent = "updated " + new Date(now).toLocaleTimeString();
  } catch (e) {
    if (e instanceof Unauthorized) {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn(e.message);
      return;
    }
    $("load-error").hidden = false;
    $("load-error").textContent = "Could not refresh: " + e.message;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    refresh();
  });
  $("history-close").addEventListener("click", () => {
    selectedRental = null;
    $("history").hidden = true;
    for (const row of document.querySelectorAll("#session-rows tr.selected")) row.classList.remove("selected");
  });
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn("");
  });
  if (token()) {
    refresh();
  } else {
    showSignIn("");
  }
});
