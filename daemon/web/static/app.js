// The secondself page: memories, conversations, personas and live stage timings, over the
// daemon's JSON API. Text from the API is only ever set as textContent (never as HTML).
"use strict";

// The access token comes in the link `secondself web` prints, after the "#": a fragment is
// never sent to a server, so it is in no request line, log or Referer. It is kept in this
// origin's localStorage (no other port's page can read it, unlike a cookie for 127.0.0.1,
// which a browser sends to every port) and goes with each request as a Bearer header.
const TOKEN_KEY = "secondself-token";
const NEEDS_LINK = "This page needs its access link: on the device run `secondself web` " +
  "(under systemd, as the secondself user: see the README) and open the link it prints.";

// What a token file may hold (access.TOKEN_PATTERN): anything else in a link is not a
// token, and must not replace the one this page already holds.
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{32,256}$/;

function takeToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const search = new URLSearchParams(location.search);
  const given = fragment.get("token") || search.get("token"); // ?token=: an older link
  if (given !== null) {
    if (TOKEN_SHAPE.test(given)) {
      // Kept beside the one held so far until the server accepts it: any site can link
      // here with a made-up token, and it must not log this page out.
      const held = localStorage.getItem(TOKEN_KEY);
      if (held && held !== given) sessionStorage.setItem(TOKEN_KEY, held);
      localStorage.setItem(TOKEN_KEY, given);
    }
    fragment.delete("token");
    search.delete("token");
    const [query, rest] = [search.toString(), fragment.toString()];
    const address = location.pathname + (query ? `?${query}` : "") + (rest ? `#${rest}` : "");
    history.replaceState(null, "", address); // out of the address bar and the tab's history
  }
  return localStorage.getItem(TOKEN_KEY);
}

let token = takeToken();
// A link pasted into a tab already showing the page changes only the fragment, which
// loads nothing: start again with its token.
addEventListener("hashchange", () => {
  if (new URLSearchParams(location.hash.slice(1)).has("token")) location.reload();
});

class Unauthorized extends Error {}

// Every request goes through here: the token it was sent with decides what a refusal means.
async function authorizedFetch(path, options = {}) {
  if (!token) throw new Unauthorized(NEEDS_LINK);
  const sent = token;
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${sent}` };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) refuse(sent);
  if (response.ok && sent === token) sessionStorage.removeItem(TOKEN_KEY); // the link's token works
  return response;
}

function refuse(sent) {
  if (sent === token) {
    const previous = sessionStorage.getItem(TOKEN_KEY);
    sessionStorage.removeItem(TOKEN_KEY);
    // Only this page's own token is dropped: another tab may have stored a newer one.
    if (localStorage.getItem(TOKEN_KEY) === sent) {
      if (previous) localStorage.setItem(TOKEN_KEY, previous);
      else localStorage.removeItem(TOKEN_KEY);
    }
    token = previous; // the link's token was refused: the one held before it may still work
  }
  if (token) {
    throw new Unauthorized("That link's access token is not this device's: this page keeps " +
      "the one it had. Reload to go on.");
  }
  throw new Unauthorized("This page's access token is no longer the device's: run " +
    "`secondself web` on the device and open the new link.");
}

const url = new URLSearchParams(location.search);
const state = {
  user: url.get("user") || "",
  persona: url.get("persona") || "",
  memoryOffset: 0,
  turnOffset: 0,
  memoriesDrawn: "", // the list as last drawn, to skip re-drawing it unchanged
  turnsDrawn: "",
};
const $ = (id) => document.getElementById(id);

// --- talking to the API -----------------------------------------------------------------

function query(extra = {}) {
  const p = new URLSearchParams();
  if (state.user) p.set("user", state.user);
  if (state.persona) p.set("persona", state.persona);
  for (const [k, v] of Object.entries(extra)) if (v !== "" && v !== null && v !== undefined) p.set(k, v);
  return p.toString();
}

async function api(method, path, extra = {}, body = undefined) {
  const options = { method, headers: {} };
  if (method !== "GET") options.headers["X-Secondself"] = "1"; // the server's same-origin check
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await authorizedFetch(`${path}?${query(extra)}`, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function say(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.className = isError ? "error" : "";
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) if (child !== null) node.append(child);
  return node;
}

const when = (seconds) => new Date(seconds * 1000).toLocaleString();

// --- users and personas -----------------------------------------------------------------

async function loadUsers() {
  const data = await api("GET", "/api/users");
  state.user = state.user || data.default;
  const select = $("user");
  select.replaceChildren(...data.users.map((u) => el("option", { value: u, textContent: u })));
  select.value = state.user;
}

async function loadPersonas() {
  const data = await api("GET", "/api/personas");
  state.persona = state.persona || data.personas[0].name;
  $("persona").replaceChildren(
    ...data.personas.map((p) => el("option", { value: p.name, textContent: p.name })));
  $("persona").value = state.persona;
  $("persona-table").tBodies[0].replaceChildren(...data.personas.map((p) => el("tr", {},
    ...[p.name, p.wake_word || "-", p.voice, p.model, p.backoff, String(p.threshold),
        p.directives || "-"].map((t) => el("td", { textContent: t })))));
}

function rememberLocation() {
  history.replaceState(null, "", `?${query()}${location.hash}`);
}

// --- memories ---------------------------------------------------------------------------

function memoryItem(m) {
  const meta = [`#${m.id}`, when(m.created), m.kind, m.persona, m.visibility, m.source];
  if (!m.current) meta.push("replaced");
  if (m.scores) meta.push(`similarity ${m.scores.similarity}`);
  const item = el("li", { className: m.current ? "memory" : "memory superseded" },
    el("div", { className: "meta", textContent: meta.join(" · ") }),
    el("div", { className: "text", textContent: m.text }),
    m.media_url && m.kind === "image" ? snapshot(m) : null);
  item.dataset.id = m.id;
  const share = el("button", { type: "button", className: "share",
    textContent: m.visibility === "shared" ? "Make private" : "Share" });
  share.addEventListener("click", () => setVisibility(m, item));
  const forget = el("button", { type: "button", className: "forget", textContent: "Forget" });
  forget.addEventListener("click", () => forgetClicked(m, item, forget));
  item.append(el("div", { className: "actions" }, share, forget));
  return item;
}

// An <img> cannot send a header: the picture is fetched with the token and shown from a
// blob: address, let go once drawn.
function snapshot(m) {
  const img = el("img", { className: "snapshot", alt: `snapshot #${m.id}` });
  authorizedFetch(m.media_url)
    .then((response) => (response.ok ? response.blob() : null))
    .then((blob) => {
      if (!blob) return;
      img.src = URL.createObjectURL(blob);
      const release = () => URL.revokeObjectURL(img.src); // drawn or not: never kept
      img.addEventListener("load", release, { once: true });
      img.addEventListener("error", release, { once: true });
    })
    .catch((e) => say(e.message, true));
  return img;
}

async function loadMemories(more = false) {
  const search = $("search").value.trim();
  state.memoryOffset = more ? state.memoryOffset : 0;
  const data = await api("GET", "/api/memories", {
    q: search, kind: $("kind").value, all: $("all").checked ? "1" : "", offset: state.memoryOffset,
  });
  const drawn = JSON.stringify(data.memories);
  if (!more && drawn === state.memoriesDrawn) return; // unchanged: keep a pending "Forget?"
  state.memoriesDrawn = more ? "" : drawn;
  const items = data.memories.map(memoryItem);
  if (more) $("memory-list").append(...items);
  else $("memory-list").replaceChildren(...items);
  if (!more && items.length === 0) {
    $("memory-list").append(el("li", { className: "empty",
      textContent: search ? "Nothing found." : "No memories yet." }));
  }
  state.memoryOffset = data.next_offset ?? state.memoryOffset;
  $("more-memories").hidden = data.next_offset === null;
}

async function setVisibility(m, item) {
  const visibility = m.visibility === "shared" ? "private" : "shared";
  const changed = await api("POST", `/api/memories/${m.id}/visibility`, {}, { visibility });
  item.replaceWith(memoryItem(changed));
  say(`#${m.id} is ${visibility} now.`);
}

function forgetClicked(m, item, button) {
  if (!button.classList.contains("confirm")) { // a second click confirms: nothing by accident
    button.classList.add("confirm");
    button.textContent = "Forget for good?";
    setTimeout(() => { button.classList.remove("confirm"); button.textContent = "Forget"; }, 5000);
    return;
  }
  forgetMemory(m, item).catch((e) => say(e.message, true));
}

async function forgetMemory(m, item) {
  const report = await api("DELETE", `/api/memories/${m.id}`);
  item.remove();
  const turns = report.turns_removed.length;
  say(`Forgot #${m.id}` + (turns ? ` and ${turns} conversation turns that quoted it.` : "."));
}

// --- conversations ----------------------------------------------------------------------

function turnItem(t) {
  const parts = t.score_parts;
  const item = el("li", { className: t.below_threshold ? "turn below" : "turn" },
    el("div", { className: "meta" }, `#${t.id} · ${when(t.created)} · personal score `,
      el("span", { className: "score", textContent: String(t.score) }), "/100",
      t.below_threshold ? " (below the persona's threshold)" : ""),
    el("div", { className: "text question", textContent: `Q: ${t.question}` }),
    el("div", { className: "text answer", textContent: `A: ${t.answer}` }),
    el("div", { className: "meta parts", textContent:
      `grounding ${parts.grounding} · retrieval ${parts.retrieval} · style ${parts.style}` +
      (parts.supporting_ids.length ? ` · supported by #${parts.supporting_ids.join(", #")}` : "") }),
    el("ul", { className: "sources" }, ...t.sources.map((s) =>
      el("li", { textContent: `#${s.id} (similarity ${s.similarity}): ${s.text}` }))));
  return item;
}

async function loadTurns(more = false) {
  state.turnOffset = more ? state.turnOffset : 0;
  const data = await api("GET", "/api/conversations", { offset: state.turnOffset });
  const drawn = JSON.stringify(data.turns);
  if (!more && drawn === state.turnsDrawn) return;
  state.turnsDrawn = more ? "" : drawn;
  const items = data.turns.map(turnItem);
  if (more) $("turn-list").append(...items);
  else $("turn-list").replaceChildren(...items);
  state.turnOffset = data.next_offset ?? state.turnOffset;
  $("more-turns").hidden = data.next_offset === null;
}

// --- live events and stage timings --------------------------------------------------------

const STAGE_EVENTS = new Set(["SpeechEnded", "Transcript", "IntentRecognized", "MemoriesRetrieved",
  "AnswerDone", "Speaking"]);
const COLUMNS = ["intent", "speech", "stt", "retrieval", "first_token", "answer", "tts", "reply",
  "backend"];
let turn = null; // the row of the turn in flight
let firstEventT = null;

function ms(seconds) { return String(Math.round(seconds * 1000)); }

function newTurnRow() {
  const cells = Object.fromEntries(COLUMNS.map((c) => [c, el("td", { className: "num" })]));
  const row = el("tr", { className: "stage-row" },
    el("td", { textContent: new Date().toLocaleTimeString() }), ...COLUMNS.map((c) => cells[c]));
  const body = $("stage-table").tBodies[0];
  body.prepend(row);
  while (body.rows.length > 20) body.deleteRow(-1);
  return { cells, tts: 0, speechEnd: null, spoke: false };
}

function stage(event) {
  if (event.event === "SpeakingDone") { turn = null; return; }
  if (!STAGE_EVENTS.has(event.event)) return;
  turn = turn || newTurnRow();
  const c = turn.cells;
  switch (event.event) {
    case "SpeechEnded": c.speech.textContent = ms(event.duration_s); turn.speechEnd = event.t; break;
    case "Transcript": c.stt.textContent = ms(event.seconds); break;
    case "IntentRecognized": c.intent.textContent = event.intent; break;
    case "MemoriesRetrieved": c.retrieval.textContent = ms(event.seconds); break;
    case "AnswerDone":
      c.first_token.textContent = ms(event.first_token_s);
      c.answer.textContent = ms(event.seconds);
      c.backend.textContent = event.backend;
      break;
    case "Speaking":
      turn.tts += event.synth_s;
      c.tts.textContent = ms(turn.tts);
      if (!turn.spoke && turn.speechEnd !== null) c.reply.textContent = ms(event.t - turn.speechEnd);
      turn.spoke = true;
      break;
  }
}

function logEvent(event) {
  firstEventT = firstEventT ?? event.t;
  const fields = Object.entries(event).filter(([k]) => k !== "event" && k !== "t")
    .map(([k, v]) => `${k}=${typeof v === "number" ? +v.toFixed(3) : JSON.stringify(v)}`);
  const log = $("event-log");
  log.prepend(el("li", { className: "event",
    textContent: `+${(event.t - firstEventT).toFixed(2)}s ${event.event} ${fields.join(" ")}` }));
  while (log.children.length > 200) log.lastChild.remove();
}

// Memories changed elsewhere (by voice, the CLI): show them, but gently. Every re-fetch
// costs the daemon SQLite reads and embeddings, and a change comes right at the end of a
// spoken turn, when a follow-up may start. So changes coalesce into one re-fetch, made
// once the bus has been quiet for REFRESH_QUIET_MS (a turn in flight keeps it busy), at
// most REFRESH_LATEST_MS after the first change, never twice within REFRESH_QUIET_MS,
// never two at once, and not while the tab is hidden (it catches up when shown).
const REFRESH_QUIET_MS = 2000;
const REFRESH_LATEST_MS = 10000;
const refresh = { since: null, timer: null, running: false, last: -Infinity };

function scheduleRefresh() {
  if (refresh.since === null || refresh.running || document.hidden) return;
  clearTimeout(refresh.timer);
  const now = performance.now();
  const due = Math.max(Math.min(now + REFRESH_QUIET_MS, refresh.since + REFRESH_LATEST_MS),
    refresh.last + REFRESH_QUIET_MS);
  refresh.timer = setTimeout(refreshNow, Math.max(0, due - now));
}

async function refreshNow() {
  refresh.timer = null;
  if (refresh.since === null || refresh.running || document.hidden) return;
  refresh.since = null;
  refresh.running = true;
  refresh.last = performance.now();
  try {
    const searching = $("search").value.trim() !== ""; // keep the search results shown
    await Promise.all([searching ? null : loadMemories(), loadTurns()]);
  } catch (e) {
    say(e.message, true);
  } finally {
    refresh.running = false;
    scheduleRefresh(); // changes that came meanwhile
  }
}

function changedElsewhere() {
  refresh.since = refresh.since ?? performance.now();
  scheduleRefresh();
}

document.addEventListener("visibilitychange", scheduleRefresh);

function onBusEvent(event) {
  logEvent(event);
  stage(event);
  if (event.event === "MemorySaved" || event.event === "MemoryForgotten") changedElsewhere();
  else scheduleRefresh(); // the voice is busy: wait until it is quiet
}

function liveState(text, on) {
  $("live-state").textContent = text;
  $("live-state").className = on ? "on" : "off";
}

// One Server-Sent Events message ("event: bus" and "data: ..." lines; ":" lines are
// comments, the server's keep-alive).
function message(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    const colon = line.indexOf(":");
    if (colon === 0) continue;
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  if (name === "bus" && data.length) onBusEvent(JSON.parse(data.join("\n")));
}

// The live stream, read with fetch (EventSource cannot send the token), reconnecting after
// a restart of the daemon or a dropped connection.
const RECONNECT_MS = 2000;

async function listen() {
  for (;;) {
    let reader = null;
    try {
      const response = await authorizedFetch("/api/events", { cache: "no-store" });
      if (!response.ok) throw new Error(`live: HTTP ${response.status}`);
      liveState("live", true);
      reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        // Line ends are made "\n" over the whole buffer: a "\r\n" can straddle two chunks.
        buffer = (buffer + value).replace(/\r\n|\r(?!$)/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          message(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (e) {
      if (e instanceof Unauthorized) {
        liveState("live: no access", false);
        say(e.message, true);
        return;
      }
      console.warn("live stream:", e);
    } finally {
      // A stream given up on (a bad message, say) must not stay open: a browser allows
      // only a few connections to one host.
      if (reader) reader.cancel().catch(() => {});
    }
    liveState("live: reconnecting", false);
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
  }
}

// --- wiring -------------------------------------------------------------------------------

function on(id, type, action) {
  $(id).addEventListener(type, (e) => {
    e.preventDefault();
    Promise.resolve(action()).catch((err) => say(err.message, true));
  });
}

on("remember-form", "submit", async () => {
  const text = $("remember-text").value;
  const m = await api("POST", "/api/memories", {}, { text, shared: $("remember-shared").checked });
  $("remember-text").value = "";
  say(`Remembered #${m.id}.`);
  await loadMemories();
});
on("search-form", "submit", () => loadMemories());
on("clear", "click", () => { $("search").value = ""; return loadMemories(); });
on("more-memories", "click", () => loadMemories(true));
on("more-turns", "click", () => loadTurns(true));
on("correct-form", "submit", async () => {
  const fixed = await api("POST", "/api/correct", {}, { text: $("correct-text").value });
  $("correct-text").value = "";
  say(`Corrected #${fixed.corrects}: ${fixed.text}`);
  await Promise.all([loadMemories(), loadTurns()]);
});
$("user").addEventListener("change", () => {
  location.search = `?user=${encodeURIComponent($("user").value)}`;
});
$("persona").addEventListener("change", () => {
  state.persona = $("persona").value;
  rememberLocation();
  Promise.all([loadMemories(), loadTurns()]).catch((e) => say(e.message, true));
});

async function start() {
  if (!token) { say(NEEDS_LINK, true); liveState("live: no access", false); return; }
  await loadUsers();
  await loadPersonas();
  rememberLocation();
  await Promise.all([loadMemories(), loadTurns()]);
  listen();
  document.body.dataset.ready = "1"; // for tests: everything is loaded
}

start().catch((e) => say(e.message, true));
