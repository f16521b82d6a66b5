// Operator dashboard: plain JavaScript, no build step. Reads the audit routes with the bearer token
// kept in sessionStorage (this tab only) and /v1/audit/health, and refreshes every few seconds.
// Every value from the server is written with textContent, never as HTML.
"use strict";

const TOKEN_KEY = "gpuflow.auditToken";
const REFRESH_MS = 5000;
// A peer counts as connected while its last handshake is younger than WireGuard's reject-after time.
const CONNECTED_SECONDS = 180;

const $ = (id) => document.getElementById(id);
let timer = null;

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
    tr.title = "show this session's events";
    tr.addEventListener("click", () => showEvents(session.rentalId));
    tr.addEventListener("keydown", (event) => {
      if (event.key === "Enter") showEvents(session.rentalId);
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
    cell(tr, bytes(peerRx), "num rx");
    cell(tr, bytes(peerTx), "num tx");
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
  $("no-sessions").hidden = sessions.length > 0;
  $("active-count").textContent = String(sessions.length);
  $("connected-count").textContent = String(connected);
  $("traffic-total").textContent = "received " + bytes(rx) + " · sent " + bytes(tx);
}

// The audit trail of one session (created, peer_added, ssh_keys_set, ...), shown under the table
// and refreshed with it while open.
let eventsRental = null;

async function showEvents(rentalId) {
  eventsRental = String(rentalId);
  $("events-card").hidden = false;
  $("events-title").textContent = "Events of rental #" + eventsRental;
  try {
    const result = await audit("/v1/audit/sessions/" + encodeURIComponent(eventsRental) + "/events");
    if (String(result.rentalId) !== eventsRental) return; // another session was opened meanwhile
    const rows = (result.events || []).map((event) => {
      const tr = document.createElement("tr");
      tr.dataset.kind = event.kind;
      cell(tr, event.at, "mono");
      cell(tr, event.kind.replaceAll("_", " "), "kind kind-" + event.kind);
      cell(tr, event.detail || "", "detail");
      return tr;
    });
    $("event-rows").replaceChildren(...rows);
    $("events-error").hidden = true;
  } catch (e) {
    if (e instanceof Unauthorized) throw e;
    $("events-error").hidden = false;
    $("events-error").textContent = "Could not load the events: " + e.message;
  }
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

async function refresh() {
  clearTimeout(timer);
  try {
    const [sessions, peers, report] = await Promise.all([activeSessions(), audit("/v1/peers"), health()]);
    const now = Date.now();
    renderSessions(sessions, peers.peers || [], now);
    renderHealth(report, now);
    if (eventsRental !== null) await showEvents(eventsRental);
    $("load-error").hidden = true;
    $("refreshed").textContent = "updated " + new Date(now).toLocaleTimeString();
    showDashboard();
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
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn("");
  });
  $("events-close").addEventListener("click", () => {
    eventsRental = null;
    $("events-card").hidden = true;
  });
  if (token()) {
    refresh();
  } else {
    showSignIn("");
  }
});
