// The interviewer app (issue 23): works offline after the first load. The bundle (questionnaires,
// assigned respondents, counters) and every interview not yet synced live in IndexedDB; the sync
// sends them with their device-made submission id, so a retried sync stores each one once.
"use strict";

const DB_NAME = "spibot-capi";
const BATCH = 50;
let db = null;
// `login`: whose session this is; each pending item records its interviewer, and a sync sends only
// the logged-in interviewer's own (a shared tablet).
let state = { bundle: null, csrf: null, name: null, login: null, device: null, current: null };

// --- IndexedDB ------------------------------------------------------------------------------
function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore("kv");
      req.result.createObjectStore("pending", { keyPath: "item.submission_id" });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}
function tx(store, mode, fn) {
  return new Promise((resolve, reject) => {
    const t = db.transaction(store, mode);
    const result = fn(t.objectStore(store));
    t.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
    t.onerror = () => reject(t.error);
  });
}
const kvGet = (key) => tx("kv", "readonly", (s) => s.get(key));
const kvSet = (key, value) => tx("kv", "readwrite", (s) => s.put(value, key));
const kvDel = (key) => tx("kv", "readwrite", (s) => s.delete(key));
const pendingAll = () => tx("pending", "readonly", (s) => s.getAll());
const pendingPut = (row) => tx("pending", "readwrite", (s) => s.put(row));
const pendingDel = (id) => tx("pending", "readwrite", (s) => s.delete(id));
const pendingClear = () => tx("pending", "readwrite", (s) => s.clear());

// --- helpers ------------------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}
function say(text) { $("pesan").textContent = text || ""; }
function show(screen) {
  for (const s of ["masuk", "daftar", "wawancara", "tolak"]) $("layar-" + s).hidden = s !== screen;
  window.scrollTo(0, 0);
}
function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
function today() { return new Date().toISOString().slice(0, 10); }
function network() { $("jaringan").textContent = navigator.onLine ? "" : "· Tanpa sinyal"; }

async function api(method, path, body) {
  const headers = { "X-Capi-Device": state.device };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (state.csrf) headers["X-CSRF-Token"] = state.csrf;
  const resp = await fetch(path, { method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body) });
  let data = {};
  try { data = await resp.json(); } catch (e) { data = {}; }
  return { status: resp.status, data };
}

// --- login, bundle, wipe ---------------------------------------------------------------------------
async function login(event) {
  event.preventDefault();
  const form = event.target;
  say("");
  let res;
  try {
    res = await api("POST", "/api/capi/login", { login: form.login.value, pin: form.pin.value });
  } catch (e) {
    say("Tidak ada sinyal. Masuk memerlukan sinyal; coba lagi nanti.");
    return;
  }
  form.pin.value = "";
  if (res.status !== 200) { say(res.data.message || res.data.detail || "Gagal masuk."); return; }
  state.csrf = res.data.csrf;
  state.name = res.data.name;
  state.login = form.login.value.trim().toLowerCase();
  await kvSet("csrf", state.csrf);
  await kvSet("name", state.name);
  await kvSet("login", state.login);
  if (res.data.wipe) await wipe();
  await refreshBundle();
  await renderList();
  show("daftar");
}

async function refreshBundle() {
  const res = await api("GET", "/api/capi/bundle");
  if (res.status === 401) { await needLogin(); return false; }
  if (res.status !== 200) return false;
  if (res.data.wipe) await wipe();
  state.bundle = res.data;
  state.csrf = res.data.csrf || state.csrf;
  await kvSet("bundle", state.bundle);
  await kvSet("csrf", state.csrf);
  return true;
}

async function wipe() {
  // The PIC's order for this device: the unsynced interviews and the respondents' names go.
  await pendingClear();
  await kvDel("bundle");
  state.bundle = null;
  await api("POST", "/api/capi/wipe-done", {});
  say("Atas perintah PIC, data yang belum tersinkron di tablet ini telah dihapus.");
}

async function needLogin() {
  state.csrf = null;
  await kvDel("csrf");
  say("Sesi berakhir. Silakan masuk lagi dengan PIN; data yang belum tersinkron tetap aman di tablet.");
  show("masuk");
}

async function logout() {
  try { await api("POST", "/api/capi/logout", {}); } catch (e) { /* offline: the session expires by itself */ }
  state.csrf = null; state.name = null; state.bundle = null;
  state.login = null;
  await kvDel("csrf"); await kvDel("name"); await kvDel("bundle"); await kvDel("login");
  $("siapa").textContent = "";
  await renderCount();
  show("masuk");
}

// --- the list --------------------------------------------------------------------------------------
const mine = (r) => !r.owner || r.owner === state.login;

async function renderCount() {
  const rows = await pendingAll();
  const waiting = rows.filter((r) => r.status === "pending");
  const others = waiting.filter((r) => !mine(r)).length;
  $("belum").textContent = "Belum tersinkron: " + (waiting.length - others)
    + (others ? " (+" + others + " milik pewawancara lain)" : "");
  const refused = $("ditolak");
  refused.replaceChildren(...rows.filter((r) => r.status === "rejected")
    .map((r) => el("li", {}, (r.label || r.item.submission_id) + ": " + r.message)));
  return rows;
}

async function renderList() {
  const b = state.bundle;
  $("siapa").textContent = state.name ? "· " + state.name : "";
  const rows = await renderCount();
  const taken = new Set(rows.filter((r) => r.item.mode === "assigned").map((r) => r.item.assignment_id));
  const people = $("daftar-responden");
  people.replaceChildren();
  for (const a of (b ? b.assignments : [])) {
    if (taken.has(a.assignment_id)) continue;
    const label = a.name + " — " + a.unit;
    people.append(el("li", { "data-assignment": a.assignment_id }, el("div", {}, label),
      el("button", { type: "button", onclick: () => startInterview({ mode: "assigned", assignment: a, label }) }, "Wawancara"),
      el("button", { type: "button", class: "sekunder", onclick: () => startRefusal({ mode: "assigned", assignment: a, label }) }, "Menolak")));
  }
  if (!people.children.length) people.append(el("li", {}, "Tidak ada responden yang menunggu."));
  const counters = $("daftar-loket");
  counters.replaceChildren();
  for (const c of (b ? b.counters : [])) {
    const label = "Intersep " + c.unit + " — " + c.name;
    const info = el("div", { class: "kecil" }, "Setiap pengunjung ke-" + c.k + " diwawancarai.");
    const actions = el("div", {});
    counters.append(el("li", { "data-counter": c.id }, el("div", {}, label), info, actions,
      el("button", { type: "button", class: "sekunder", onclick: () => arrival(c, label, info, actions) }, "Catat pengunjung datang")));
  }
  if (!counters.children.length) counters.append(el("li", {}, "Belum ada loket."));
}

// Every k-th arrival of the day from a random start 1..k (the rule of capi/intercept.py).
async function arrival(counter, label, info, actions) {
  const key = "arrivals:" + counter.id;
  let day = await kvGet(key);
  if (!day || day.date !== today() || day.k !== counter.k) {
    const start = 1 + Math.floor((crypto.getRandomValues(new Uint32Array(1))[0] / 4294967296) * counter.k);
    day = { date: today(), k: counter.k, start, n: 0 };
  }
  day.n += 1;
  await kvSet(key, day);
  const chosen = day.n >= day.start && (day.n - day.start) % day.k === 0;
  info.textContent = "Pengunjung ke-" + day.n + " hari ini: " + (chosen ? "DIPILIH, silakan wawancarai." : "tidak dipilih.");
  actions.replaceChildren();
  if (chosen) {
    const target = { mode: "intercept", counter, label };
    actions.append(el("button", { type: "button", onclick: () => startInterview(target) }, "Wawancara"),
      el("button", { type: "button", class: "sekunder", onclick: () => startRefusal(target) }, "Menolak"));
  }
}

function campaignOf(target) {
  const b = state.bundle;
  if (target.mode === "assigned") return b.campaigns.find((c) => c.id === target.assignment.campaign_id);
  return b.campaigns[0];
}

// --- the interview form -------------------------------------------------------------------------------
function visible(q, answers) {
  const cond = q.required_if || {};
  const keys = Object.keys(cond);
  if (!keys.length) return true;
  return keys.some((k) => answers[k] !== undefined && cond[k].includes(String(answers[k]).trim().toLowerCase()));
}

function currentAnswers() {
  const answers = {};
  for (const input of $("pertanyaan").querySelectorAll("input:checked")) answers[input.name] = input.value;
  return answers;
}

function applyConditions() {
  const answers = currentAnswers();
  for (const box of $("pertanyaan").querySelectorAll("fieldset")) {
    const shown = visible(JSON.parse(box.dataset.cond), answers);
    box.hidden = !shown;
    if (!shown) for (const i of box.querySelectorAll("input:checked")) i.checked = false;
  }
  for (const page of $("pertanyaan").querySelectorAll("section.halaman")) {
    page.hidden = !page.querySelector("fieldset:not([hidden])");
  }
}

function startInterview(target) {
  const campaign = campaignOf(target);
  if (!campaign) { say("Survei instansi ini tidak sedang berjalan."); return; }
  const group = target.mode === "assigned" ? target.assignment.group : "external";
  const q = state.bundle.questionnaires[group + ":" + campaign.year];
  if (!q) { say("Kuesioner belum tersedia di tablet. Sinkronkan saat ada sinyal."); return; }
  state.current = { target, campaign };
  $("judul-wawancara").textContent = target.label;
  const box = $("pertanyaan");
  box.replaceChildren();
  let n = 0;
  for (const page of q.pages) {
    const section = el("section", { class: "halaman" }, el("h2", {}, page.title));
    if (page.intro) section.append(el("p", { class: "kecil" }, page.intro));
    for (const question of page.questions) {
      n += 1;
      const fs = el("fieldset", { "data-q": question.id });
      fs.dataset.cond = JSON.stringify({ required_if: question.required_if });
      fs.append(el("legend", {}, n + ". " + (question.prompt ? question.text + " — " + question.prompt : question.text)));
      for (const [code, text] of question.options) {
        fs.append(el("label", {}, el("input", { type: "radio", name: question.id, value: code }), text));
      }
      section.append(fs);
    }
    box.append(section);
  }
  $("kurang").textContent = "";
  applyConditions();
  show("wawancara");
}

async function saveInterview(event) {
  event.preventDefault();
  applyConditions();
  const missing = Array.from($("pertanyaan").querySelectorAll("fieldset:not([hidden])"))
    .filter((fs) => !fs.querySelector("input:checked"));
  if (missing.length) {
    $("kurang").textContent = "Masih ada " + missing.length + " pertanyaan yang belum dijawab.";
    missing[0].scrollIntoView();
    return;
  }
  await store("done", { answers: currentAnswers() });
}

function startRefusal(target) {
  const campaign = campaignOf(target);
  if (!campaign) { say("Survei instansi ini tidak sedang berjalan."); return; }
  state.current = { target, campaign };
  $("judul-tolak").textContent = "Menolak: " + target.label;
  const select = $("alasan");
  select.replaceChildren(...Object.entries(state.bundle.refusal_reasons).map(([code, text]) => el("option", { value: code }, text)));
  show("tolak");
}

async function saveRefusal(event) {
  event.preventDefault();
  await store("refused", { refusal_reason: $("alasan").value });
}

async function store(outcome, extra) {
  const { target, campaign } = state.current;
  const item = Object.assign({ submission_id: newId(), mode: target.mode, outcome, campaign_id: campaign.id,
    interviewed_at: new Date().toISOString() }, extra);
  if (target.mode === "assigned") item.assignment_id = target.assignment.assignment_id;
  else item.counter_id = target.counter.id;
  await pendingPut({ item, status: "pending", label: target.label, message: "", owner: state.login });
  state.current = null;
  say(outcome === "done" ? "Wawancara tersimpan di tablet." : "Penolakan tersimpan di tablet.");
  await renderList();
  show("daftar");
}

// --- sync ---------------------------------------------------------------------------------------------
async function syncNow() {
  const button = $("tombol-sinkron");
  button.disabled = true;
  try {
    const rows = (await pendingAll()).filter((r) => r.status === "pending" && mine(r));
    let stored = 0;
    for (let i = 0; i < rows.length; i += BATCH) {
      const chunk = rows.slice(i, i + BATCH);
      const res = await api("POST", "/api/capi/sync", { items: chunk.map((r) => r.item) });
      if (res.status === 401 || res.status === 403) { await needLogin(); return; }
      if (res.status !== 200) { say("Sinkron gagal (" + res.status + "). Data tetap tersimpan; coba lagi."); return; }
      if (res.data.wipe) { await wipe(); await renderList(); return; }
      for (const r of res.data.results) {
        const row = chunk.find((c) => c.item.submission_id === r.submission_id);
        if (!row) continue;
        if (r.status === "stored" || r.status === "duplicate") { await pendingDel(r.submission_id); stored += 1; }
        else { row.status = "rejected"; row.message = r.message; await pendingPut(row); }
      }
    }
    await refreshBundle();
    await renderList();
    const left = (await pendingAll()).filter((r) => r.status === "rejected").length;
    say("Sinkron selesai: " + stored + " terkirim." + (left ? " " + left + " ditolak, lihat alasannya." : ""));
  } catch (e) {
    say("Tidak ada sinyal. Data tetap tersimpan di tablet; sinkronkan nanti.");
  } finally {
    button.disabled = false;
  }
}

// --- start --------------------------------------------------------------------------------------------
async function start() {
  db = await openDb();
  state.device = await kvGet("device");
  if (!state.device) { state.device = newId(); await kvSet("device", state.device); }
  state.csrf = (await kvGet("csrf")) || null;
  state.name = (await kvGet("name")) || null;
  state.login = (await kvGet("login")) || null;
  state.bundle = (await kvGet("bundle")) || null;
  $("form-masuk").addEventListener("submit", login);
  $("form-wawancara").addEventListener("submit", saveInterview);
  $("form-wawancara").addEventListener("change", applyConditions);
  $("form-tolak").addEventListener("submit", saveRefusal);
  for (const b of document.querySelectorAll("button.batal")) b.addEventListener("click", () => show("daftar"));
  $("tombol-sinkron").addEventListener("click", syncNow);
  $("tombol-keluar").addEventListener("click", logout);
  window.addEventListener("online", network);
  window.addEventListener("offline", network);
  network();
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/capi/sw.js", { scope: "/capi/" });
  if (state.bundle && state.csrf) { await renderList(); show("daftar"); }
  else { await renderCount(); show("masuk"); }
  document.body.dataset.ready = "1";
}

start();
