// The installer's page: search one serial, list what the gateway hears, watch placement live.
// Plain JS, no build step; every text from the server goes in through textContent.
"use strict";

(() => {
  const TOKEN_KEY = "concentratord.token";
  const SERIAL = /^(?:[A-Z]{3}:)?[0-9A-F]{8}$/;
  const LIST_LIMIT = 200; // rows drawn at once: a phone stays quick with 30,000 meters
  const TELEGRAM_LIMIT = 30; // newest telegrams kept in the placement view
  const RETRY_MS = 5000; // before reopening a refused live view (busy server)

  const $ = (id) => document.getElementById(id);
  let meters = [];
  let others = 0;
  let searchSeq = 0;
  let source = null;
  let telegramsSeen = 0;
  let retryTimer = null;

  // ------------------------------------------------------------------ token

  const token = () => localStorage.getItem(TOKEN_KEY);

  function askToken(message) {
    closeLive();
    localStorage.removeItem(TOKEN_KEY);
    $("app").hidden = true;
    $("forget-token").hidden = true;
    $("token-view").hidden = false;
    $("token-error").textContent = message || "";
    $("token-input").value = "";
    $("token-input").focus();
  }

  class NotPermittedError extends Error {}

  // GET an API path with the token; 401 asks for the token again and throws NotPermittedError.
  async function api(path) {
    const response = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
    if (response.status === 401) {
      askToken("The token was refused: enter it again.");
      throw new NotPermittedError();
    }
    const body = await response.json();
    return { status: response.status, body };
  }

  // ------------------------------------------------------------------ formatting

  const pad = (n) => String(n).padStart(2, "0");

  function clock(iso) {
    if (!iso) return "never";
    const t = new Date(iso);
    const time = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
    if (t.toDateString() === new Date().toDateString()) return time;
    return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${time}`;
  }

  const dbm = (v) => (v === null || v === undefined ? "?" : `${Math.round(v)} dBm`);
  const serialOf = (m) => `${m.manufacturer}:${m.id}`;

  function reception(m) {
    if (m.reception_rate === null || m.reception_rate === undefined) {
      return "reception not known yet";
    }
    return `reception ${Math.round(m.reception_rate * 100)} % (${m.quality})`;
  }

  function sentence(m) {
    const times = m.telegrams === 1 ? "1 time" : `${m.telegrams} times`;
    const rssi = m.rssi_dbm ? m.rssi_dbm.last : null;
    return `heard ${times}, last at ${clock(m.last_heard)}, RSSI ${dbm(rssi)}, ${reception(m)}`;
  }

  function detail(m) {
    const r = m.rssi_dbm || {};
    const parts = [
      `${m.manufacturer} ${m.id}`,
      m.media || "unknown medium",
      m.tenant ? `tenant ${m.tenant}` : "no tenant",
      `mode ${m.link_mode || "?"}`,
      m.decode === "ok" ? "decoded" : `not decodable (${m.decode.replace("_", " ")})`,
      `RSSI min ${dbm(r.min)} / mean ${dbm(r.mean)} / max ${dbm(r.max)}`,
    ];
    if (m.interval_s) parts.push(`every ${Math.round(m.interval_s)} s`);
    return parts.join(" · ");
  }

  // ------------------------------------------------------------------ search

  async function search() {
    const text = $("search-input").value.trim().toUpperCase();
    const result = $("search-result");
    const seq = ++searchSeq; // answers that arrive after a newer question are dropped
    $("search-detail").textContent = "";
    result.className = "";
    if (!text) {
      result.textContent = "";
      return;
    }
    if (!SERIAL.test(text)) {
      result.textContent = "Type the 8-digit serial number (or MAN:serial).";
      return;
    }
    result.textContent = "asking...";
    let answer;
    try {
      answer = await api(`/api/v1/meters/${encodeURIComponent(text)}`);
    } catch (err) {
      if (seq === searchSeq && !(err instanceof NotPermittedError)) {
        result.textContent = "The gateway did not answer.";
        result.className = "error";
      }
      return;
    }
    if (seq !== searchSeq) return;
    if (answer.status === 200) {
      result.textContent = sentence(answer.body);
      result.className = answer.body.quality === "poor" ? "poor" : "heard";
      $("search-detail").textContent = detail(answer.body);
    } else {
      result.textContent = answer.body.error;
      result.className = answer.status === 404 ? "unheard" : "error";
    }
  }

  // ------------------------------------------------------------------ list

  async function loadMeters() {
    $("meter-summary").textContent = "loading...";
    try {
      const answer = await api("/api/v1/meters");
      meters = answer.body.meters || [];
      others = answer.body.others || 0;
    } catch (err) {
      if (!(err instanceof NotPermittedError)) $("meter-summary").textContent = "The gateway did not answer.";
      return;
    }
    drawMeters();
  }

  // Missing values sort last whichever way the list is turned.
  function byKey(key, descending) {
    return (a, b) => {
      const x = key(a);
      const y = key(b);
      if (x === null && y === null) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      if (x === y) return 0;
      return (x < y) !== descending ? -1 : 1;
    };
  }

  const SORTS = {
    signal: [(m) => (m.rssi_dbm ? m.rssi_dbm.last : null), false],
    reception: [(m) => m.reception_rate, false],
    last: [(m) => m.last_heard, true],
    id: [serialOf, false],
  };

  function shownMeters() {
    let rows = meters;
    if ($("filter-poor").checked) rows = rows.filter((m) => m.quality === "poor");
    if ($("filter-undecodable").checked) rows = rows.filter((m) => m.decode !== "ok");
    if ($("filter-no-tenant").checked) rows = rows.filter((m) => !m.tenant);
    const [key, descending] = SORTS[$("sort").value];
    return rows.slice().sort(byKey(key, descending !== $("sort-reverse").checked));
  }

  function meterItem(m) {
    const li = document.createElement("li");
    li.className = `meter quality-${m.quality}`;
    li.dataset.id = serialOf(m);
    const add = (cls, text) => {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      li.append(span);
    };
    add("serial", `${m.manufacturer} ${m.id}`);
    add("rssi", dbm(m.rssi_dbm ? m.rssi_dbm.last : null));
    add("rate", m.reception_rate === null ? "rate ?" : `${Math.round(m.reception_rate * 100)} %`);
    add("quality", m.quality);
    add("info", `${m.telegrams}× · last ${clock(m.last_heard)} · ${m.tenant || "no tenant"}` +
      (m.decode === "ok" ? "" : ` · ${m.decode.replace("_", " ")}`));
    return li;
  }

  function drawMeters() {
    const rows = shownMeters();
    const list = $("meter-list");
    list.replaceChildren(...rows.slice(0, LIST_LIMIT).map(meterItem));
    let text = rows.length > LIST_LIMIT
      ? `Showing ${LIST_LIMIT} of ${rows.length} meters`
      : `${rows.length} of ${meters.length} meters`;
    if (others) text += `; ${others} more heard belong to other tenants`;
    $("meter-summary").textContent = text + ".";
  }

  // ------------------------------------------------------------------ placement (live)

  function liveStatus(text) {
    $("live-status").textContent = text;
  }

  function showBands(data) {
    for (const [band, count] of Object.entries(data.bands)) {
      const cell = $(`band-${band}`);
      if (cell) cell.textContent = String(count);
    }
    let text = `${data.meters} meters heard`;
    if (data.bands.unknown) text += `, ${data.bands.unknown} without RSSI`;
    if (data.others) text += `; ${data.others} more of other tenants`;
    $("placement-summary").textContent = text + ".";
  }

  function bandOf(rssi) {
    if (rssi === null || rssi === undefined) return "unknown";
    if (rssi >= -70) return "excellent";
    if (rssi >= -85) return "good";
    if (rssi >= -95) return "fair";
    return "weak";
  }

  function showTelegram(t) {
    const li = document.createElement("li");
    li.className = `telegram band-${bandOf(t.rssi_dbm)}`;
    li.dataset.id = `${t.manufacturer}:${t.id}`;
    li.textContent = `${clock(t.time)} ${t.manufacturer} ${t.id} ${dbm(t.rssi_dbm)} ` +
      `${t.link_mode || ""} ${t.decode}`;
    const list = $("telegrams");
    list.prepend(li);
    while (list.children.length > TELEGRAM_LIMIT) list.lastElementChild.remove();
    telegramsSeen += 1;
    $("telegram-count").textContent = `(${telegramsSeen} since opened)`;
  }

  function openLive() {
    if (source || !token()) return;
    clearTimeout(retryTimer);
    liveStatus("connecting");
    // EventSource cannot send headers: this endpoint alone takes the token in the query.
    source = new EventSource(`/api/v1/events?token=${encodeURIComponent(token())}`);
    source.onopen = () => liveStatus("live");
    source.addEventListener("bands", (e) => showBands(JSON.parse(e.data)));
    source.addEventListener("telegram", (e) => showTelegram(JSON.parse(e.data)));
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) {
        liveStatus("reconnecting");
        return;
      }
      // Closed for good: refused (401) or busy (503). The list call tells which.
      closeLive();
      liveStatus("unavailable, retrying");
      api("/api/v1/meters").then(
        () => { retryTimer = setTimeout(openLive, RETRY_MS); },
        () => {},
      );
    };
  }

  function closeLive() {
    clearTimeout(retryTimer);
    if (source) source.close();
    source = null;
    liveStatus("not connected");
  }

  // ------------------------------------------------------------------ views

  function show(viewId) {
    for (const button of document.querySelectorAll("nav button")) {
      const active = button.dataset.view === viewId;
      button.classList.toggle("active", active);
      $(button.dataset.view).hidden = !active;
    }
    if (viewId === "meters-view") loadMeters();
    // The live view holds one of the gateway's few tap places: only while it is looked at.
    if (viewId === "placement-view") openLive();
    else closeLive();
  }

  function start() {
    $("token-view").hidden = true;
    $("app").hidden = false;
    $("forget-token").hidden = false;
    show("search-view");
    $("search-input").focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("token-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const value = $("token-input").value.trim();
      if (!value) return;
      localStorage.setItem(TOKEN_KEY, value);
      try {
        await api("/api/v1/meters");
      } catch (err) {
        if (!(err instanceof NotPermittedError)) $("token-error").textContent = "The gateway did not answer.";
        return;
      }
      start();
    });
    $("forget-token").addEventListener("click", () => askToken(""));
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      search();
    });
    $("search-input").addEventListener("input", search);
    for (const button of document.querySelectorAll("nav button")) {
      button.addEventListener("click", () => show(button.dataset.view));
    }
    for (const id of ["sort", "sort-reverse", "filter-poor", "filter-undecodable", "filter-no-tenant"]) {
      $(id).addEventListener("change", drawMeters);
    }
    $("refresh").addEventListener("click", loadMeters);
    window.addEventListener("pagehide", closeLive);
    if (token()) start();
    else askToken("");
  });
})();
