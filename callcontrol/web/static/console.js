// The web attendant console: a live board of the watched customer's extensions and their calls,
// built from get_sip_calls_list and the call state notifications, with the call-control actions on
// each leg. Plain ES module over the JavaScript client (callcontrol.js); no framework, no build.
//
// The session id lives in the client object only (memory): nothing goes to cookies or web storage,
// and the password is not kept (remember: false), so an expired session means logging in again.
import { CallControlClient, phoneParty, peerParty } from "./callcontrol.js";

const LIVE_TICK_MS = 1000;
const LOG_LINES = 200;
const $ = (sel, root = document) => root.querySelector(sel);

/** The board's data: the live legs by "id;tag", grouped by the extension (phone party) they belong to. */
class BoardModel {
  constructor() {
    this.legs = new Map();
    this.seenAt = new Map(); // leg key -> local ms when its current state began (for durations)
  }

  static key(info) {
    return `${info.call.id};${info.call.tag ?? ""}`;
  }

  static extension(info) {
    const phone = phoneParty(info);
    return phone.account_id ?? phone.id;
  }

  /** Apply one SIPCallInfo; returns "update" or "remove". */
  apply(info, now) {
    const key = BoardModel.key(info);
    if (info.state === "terminated") {
      this.legs.delete(key);
      this.seenAt.delete(key);
      return "remove";
    }
    const before = this.legs.get(key);
    if (!before || before.state !== info.state) this.seenAt.set(key, now);
    this.legs.set(key, info);
    return "update";
  }

  legsOf(ext) {
    return [...this.legs.entries()].filter(([, info]) => BoardModel.extension(info) === ext);
  }
}

/** Seconds a leg has been in its state: from the server's connect/start time when it has one. */
function since(info, seenAt, now) {
  const stamp = ["connected", "held", "holding"].includes(info.state) ? info.connect_time : info.start_time;
  if (stamp) {
    const t = Date.parse(`${stamp.replace(" ", "T")}Z`);
    if (!Number.isNaN(t)) return Math.max(0, Math.floor((now - t) / 1000));
  }
  return Math.max(0, Math.floor((now - (seenAt ?? now)) / 1000));
}

function clock(seconds) {
  const m = Math.floor(seconds / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** What routed the leg: its queue position, the hunt group, the forwarders (PBX, docs/pbx.md). */
function viaText(info) {
  const parts = [];
  const q = info.queue_info;
  if (q) parts.push(`queue ${q.i_c_queue}: position ${q.position}, ${q.operators} operators`);
  const hunt = info.callee.huntgroup_id ?? info.caller.huntgroup_id;
  if (hunt) parts.push(`hunt group ${hunt}`);
  const forwarders = [...(info.callee.forwarder_list ?? []), ...(info.caller.forwarder_list ?? [])].map((f) => f.id);
  if (forwarders.length) parts.push(`forwarded by ${forwarders.join(", ")}`);
  return parts.join("; ");
}

function partyText(p) {
  const number = p.extension_id ?? p.account_id ?? p.id;
  return p.display_name && p.display_name !== number ? `${p.display_name} ${number}` : number;
}

class Console {
  constructor() {
    this.client = null;
    this.model = new BoardModel();
    this.key = null;
    this.ticker = null;
    $("#login-form").addEventListener("submit", (ev) => { ev.preventDefault(); this.login(); });
    $("#logout").addEventListener("click", () => this.logout());
  }

  log(text, kind = "info") {
    const li = document.createElement("li");
    li.className = kind;
    const time = document.createElement("time");
    time.textContent = new Date().toLocaleTimeString();
    li.append(time, ` ${text}`);
    const log = $("#log");
    log.prepend(li);
    while (log.children.length > LOG_LINES) log.lastElementChild.remove();
  }

  status(text) {
    const el = $("#status");
    el.textContent = text;
    el.dataset.status = text;
  }

  async wsUrl() {
    const cfg = await (await fetch("config.json", { cache: "no-store" })).json();
    return cfg.ws_url ?? `${cfg.ws_scheme}://${location.hostname}:${cfg.ws_port}/ws`;
  }

  async login() {
    const button = $("#login-button");
    const error = $("#login-error");
    error.textContent = "";
    button.disabled = true;
    try {
      if (this.client === null) {
        const client = await CallControlClient.connect(await this.wsUrl(), { remember: false });
        client.on("notification", (n) => this.onNotification(n));
        client.on("resync", (m) => this.onResync(m));
        client.on("close", () => this.status("reconnecting"));
        client.on("reconnect", () => { this.status("online"); this.log("reconnected; missed notifications replayed"); });
        this.client = client;
      }
      const login = $("#login").value;
      await this.client.login(login, $("#password").value);
      $("#password").value = "";
      this.key = { [$("#key-kind").value]: Number($("#key-value").value) };
      await this.client.enableApiNotifications(this.key);
      this.status("online");
      $("#who").textContent = `${login} · ${Object.entries(this.key)[0].join(" ")}`;
      $("#login-view").hidden = true;
      $("#board-view").hidden = false;
      $("#side").hidden = false;
      $("#logout").hidden = false;
      this.log(`logged in as ${login}; watching ${Object.entries(this.key)[0].join(" ")}`);
      await this.reload();
      this.ticker = setInterval(() => this.tick(), LIVE_TICK_MS);
      document.body.dataset.ready = "1";
    } catch (err) {
      error.textContent = err.code ? `${err.code}: ${err.serverMessage}` : String(err.message ?? err);
    } finally {
      button.disabled = false;
    }
  }

  async logout() {
    try {
      await this.client?.logout();
    } catch (err) {
      this.log(`logout: ${err.message}`, "error");
    }
    this.client?.close();
    this.client = null;
    this.showLogin("logged out");
  }

  showLogin(reason) {
    clearInterval(this.ticker);
    delete document.body.dataset.ready;
    this.model = new BoardModel();
    for (const tbody of document.querySelectorAll("#board tbody")) tbody.remove();
    $("#login-view").hidden = false;
    $("#board-view").hidden = true;
    $("#logout").hidden = true;
    $("#who").textContent = "";
    $("#login-error").textContent = reason;
    this.status("offline");
  }

  /** The whole board from get_sip_calls_list (at login, and after a resync). */
  async reload() {
    const calls = await this.client.getSipCallsList(this.key);
    this.model = new BoardModel();
    for (const tbody of document.querySelectorAll("#board tbody")) tbody.remove();
    const now = Date.now();
    for (const info of calls) this.model.apply(info, now);
    for (const [key, info] of this.model.legs) this.renderLeg(key, info);
    this.renderEmpty();
  }

  onResync(marker) {
    if (this.client.sessionId === null) {
      this.client.close();
      this.client = null;
      this.showLogin("session expired: log in again");
      return;
    }
    this.log(`resync (${marker.reason}): the board is listed again`, "warn");
    this.reload().catch((err) => this.log(`listing calls: ${err.message}`, "error"));
  }

  onNotification(n) {
    const info = n.call_info;
    if (!info) return;
    const phone = phoneParty(info);
    const peer = peerParty(info);
    if (info.event) {
      this.log(`#${n.seq} ${partyText(phone)}: ${info.event}${info.digit ? ` ${info.digit}` : ""}`);
      return;
    }
    const reason = info.state === "terminated" && info.reason ? ` (${info.reason})` : "";
    this.log(`#${n.seq} ${partyText(phone)} ${info.state} with ${partyText(peer)}${reason}`,
      info.state === "terminated" ? "end" : "info");
    const key = BoardModel.key(info);
    if (this.model.apply(info, Date.now()) === "remove") {
      $(`tr.leg[data-leg="${CSS.escape(key)}"]`)?.remove();
      this.renderExtension(BoardModel.extension(info));
    } else {
      this.renderLeg(key, info);
    }
    this.renderEmpty();
  }

  // ------------------------------------------------------------------ rendering

  extensionBody(info) {
    const ext = BoardModel.extension(info);
    let tbody = $(`#board tbody[data-ext="${CSS.escape(ext)}"]`);
    if (tbody) return tbody;
    tbody = $("#extension-template").content.firstElementChild.cloneNode(true);
    tbody.dataset.ext = ext;
    const phone = phoneParty(info);
    const external = !phone.account_id;
    tbody.classList.toggle("external", external);
    $(".ext-name", tbody).textContent = partyText(phone);
    const dial = $(".dial", tbody);
    if (external) dial.remove();
    else {
      dial.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const number = $(".dial-number", tbody).value.trim();
        this.act(`click-to-call ${ext} -> ${number}`, $(".dial-button", tbody),
          () => this.client.originateAdvancedCall({ bill_id: phone.account_id, caller_id: phone.account_id, callee_id: number }));
      });
    }
    // Extensions in the directory first (by number), then the external parties.
    const bodies = [...document.querySelectorAll("#board tbody")];
    const after = bodies.find((b) => (b.classList.contains("external") && !external)
      || (b.classList.contains("external") === external && b.dataset.ext.localeCompare(ext, undefined, { numeric: true }) > 0));
    $("#board").insertBefore(tbody, after ?? null);
    return tbody;
  }

  renderExtension(ext) {
    const tbody = $(`#board tbody[data-ext="${CSS.escape(ext)}"]`);
    if (!tbody) return;
    const legs = this.model.legsOf(ext);
    $(".ext-info", tbody).textContent = legs.length ? `${legs.length} call${legs.length > 1 ? "s" : ""}` : "idle";
    tbody.dataset.calls = String(legs.length);
    for (const [key] of legs) {
      const row = $(`tr.leg[data-leg="${CSS.escape(key)}"]`, tbody);
      if (row) this.renderJoinTargets(row, key, legs);
    }
  }

  renderLeg(key, info) {
    const tbody = this.extensionBody(info);
    let row = $(`tr.leg[data-leg="${CSS.escape(key)}"]`, tbody);
    if (!row) {
      row = $("#leg-template").content.firstElementChild.cloneNode(true);
      row.dataset.leg = key;
      this.wireLeg(row, key);
      tbody.append(row);
    }
    row.dataset.state = info.state;
    $(".leg-id", row).textContent = info.call.tag ? `…${info.call.tag.slice(-6)}` : "";
    $(".leg-id", row).title = `${info.call.id} tag ${info.call.tag ?? "-"} (${info.type})`;
    const state = $(".state", row);
    state.textContent = info.state;
    state.dataset.state = info.state;
    $(".peer-name", row).textContent = partyText(peerParty(info));
    $(".via", row).textContent = viaText(info);
    const up = ["connected", "held", "holding"].includes(info.state);
    $(".answer", row).hidden = !(["ringing", "early", "trying"].includes(info.state) && info.type === "incoming");
    $(".hold", row).hidden = info.state !== "connected";
    $(".unhold", row).hidden = !["holding", "held"].includes(info.state);
    $(".transfer", row).hidden = !up;
    this.tickRow(row, key, info, Date.now());
    this.renderExtension(BoardModel.extension(info));
  }

  renderJoinTargets(row, key, legs) {
    const others = legs.filter(([k, info]) => k !== key && ["connected", "held", "holding"].includes(info.state));
    const join = $(".join", row);
    const self = this.model.legs.get(key);
    join.hidden = others.length === 0 || !self || !["connected", "held", "holding"].includes(self.state);
    const select = $(".join-target", row);
    const chosen = select.value;
    select.replaceChildren(...others.map(([k, info]) => {
      const opt = document.createElement("option");
      opt.value = k;
      opt.textContent = `with ${partyText(peerParty(info))} (${info.state})`;
      return opt;
    }));
    if (others.some(([k]) => k === chosen)) select.value = chosen;
  }

  renderEmpty() {
    $("#board-empty").hidden = document.querySelector("#board tbody") !== null;
  }

  tick() {
    const now = Date.now();
    for (const row of document.querySelectorAll("tr.leg")) {
      const info = this.model.legs.get(row.dataset.leg);
      if (info) this.tickRow(row, row.dataset.leg, info, now);
    }
  }

  tickRow(row, key, info, now) {
    $(".duration", row).textContent = clock(since(info, this.model.seenAt.get(key), now));
  }

  // ------------------------------------------------------------------ actions

  wireLeg(row, key) {
    const leg = () => this.model.legs.get(key);
    const opts = () => ({ transport_id: leg().transport_id });
    const on = (sel, what, run) => $(sel, row).addEventListener("click", () => {
      if (leg()) this.act(`${what} ${partyText(phoneParty(leg()))}`, $(sel, row), run);
    });
    on(".answer", "answer", () => this.client.answerCall(leg().call, opts()));
    on(".hold", "hold", () => this.client.holdCall(leg().call, opts()));
    on(".unhold", "unhold", () => this.client.unholdCall(leg().call, opts()));
    on(".hangup", "hang up", () => this.client.terminateCall(leg().call, opts()));
    $(".transfer", row).addEventListener("submit", (ev) => {
      ev.preventDefault();
      const number = $(".transfer-number", row).value.trim();
      if (leg()) this.act(`transfer ${partyText(phoneParty(leg()))} -> ${number}`, $(".transfer-button", row),
        () => this.client.transferCall(leg().call, number, opts()));
    });
    $(".join", row).addEventListener("submit", (ev) => {
      ev.preventDefault();
      const other = this.model.legs.get($(".join-target", row).value);
      if (leg() && other) this.act(`join ${partyText(peerParty(leg()))} with ${partyText(peerParty(other))}`,
        $(".join-button", row), () => this.client.joinCalls(leg().call, other.call, opts()));
    });
  }

  async act(what, button, run) {
    button.disabled = true;
    this.log(`→ ${what}`, "action");
    try {
      await run();
    } catch (err) {
      this.log(`✗ ${what}: ${err.code ? `${err.code} ${err.serverMessage}` : err.message}`, "error");
    } finally {
      button.disabled = false;
    }
  }
}

new Console();
