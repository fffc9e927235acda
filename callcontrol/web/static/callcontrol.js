// callcontrol.js: the JavaScript client of the callcontrol call-control API (PortaSIP Call Control
// compatible JSON-RPC over WebSocket). One ES module, no dependency, no build step: browsers load it
// as it is (the server serves it at /console/callcontrol.js); Node passes a WebSocket class, e.g.
// the `ws` package's. Types: callcontrol.d.ts beside it. The wire format: /api/ on the server.
//
//   import { CallControlClient } from "./callcontrol.js";
//   const cc = await CallControlClient.connect("ws://127.0.0.1:8445/ws");   // Node: { WebSocket }
//   await cc.login("demo-corp", "demo-corp-pass");
//   await cc.enableApiNotifications({ i_customer: 1 });
//   cc.on("notification", (n) => console.log(n.seq, n.call_info.state));     // or:
//   for await (const n of cc.notifications()) { ... }
//
// Responses are matched to requests by cseq; an error answer rejects with a CallControlError
// (code, message, details). When the connection drops, requests in flight reject with
// ConnectionLost and the client reconnects (backoff) and sends Session.resume with the last seq
// it saw, so the missed notifications arrive in order. If the server no longer has them, or the
// session is gone (then, if it was told to remember the credentials, it logs in again and
// re-subscribes), it emits "resync": list the calls again with getSipCallsList.

export const EVENT = "sip.call_control_notifications";

/** The service of every API method (the server's method table; tests/unit/test_js_client.py checks it). */
export const METHODS = Object.freeze({
  login: "Session",
  logout: "Session",
  resume: "Session",
  enable_api_notifications: "CallControl",
  disable_api_notifications: "CallControl",
  get_sip_calls_list: "CallControl",
  get_cdr_list: "CallControl",
  originate_advanced_call: "CallControl",
  answer_call: "CallControl",
  terminate_call: "CallControl",
  hold_call: "CallControl",
  unhold_call: "CallControl",
  transfer_call: "CallControl",
  join_calls: "CallControl",
  play_prompt: "CallControl",
  stop_play_prompt: "CallControl",
  start_dtmf_detect: "CallControl",
  stop_dtmf_detect: "CallControl",
});

const KEYS = ["i_account", "i_customer", "i_main_office", "i_ivr_an"];

/** An error answer from the server. */
export class CallControlError extends Error {
  constructor(code, message, details = null) {
    super(details == null ? `${code}: ${message}` : `${code}: ${message} (${JSON.stringify(details)})`);
    this.name = "CallControlError";
    this.code = code;
    this.details = details;
    this.serverMessage = message;
  }
}

/** The connection dropped before the answer came (the request may or may not have run). */
export class ConnectionLost extends Error {
  constructor(message) {
    super(message);
    this.name = "ConnectionLost";
  }
}

/** No answer within the request timeout. */
export class RequestTimeout extends Error {
  constructor(message) {
    super(message);
    this.name = "RequestTimeout";
  }
}

function callRef(call) {
  // A call reference goes on the wire as {id, tag} and nothing else (a whole SIPCallInfo may be passed).
  if (call == null || typeof call.id !== "string") throw new TypeError("call must be {id, tag}");
  return call.tag == null ? { id: call.id } : { id: call.id, tag: call.tag };
}

function defined(params) {
  const out = {};
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) out[k] = v;
  return out;
}

function keys(k = {}) {
  const out = {};
  for (const name of KEYS) if (k[name] !== undefined && k[name] !== null) out[name] = k[name];
  return out;
}

export class CallControlClient {
  /**
   * @param {string} url ws://HOST:PORT/ws
   * @param {object} [options] WebSocket (class; default globalThis.WebSocket), reconnect (true),
   *   requestTimeout (ms, 10000), reconnectDelay ([first, max] ms, [50, 5000]),
   *   remember (keep the credentials in memory to log in again when the session expires; true)
   */
  constructor(url, options = {}) {
    this.url = url;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.WebSocket !== "function") throw new TypeError("no WebSocket class: pass options.WebSocket");
    this.reconnect = options.reconnect ?? true;
    this.requestTimeout = options.requestTimeout ?? 10000;
    this.reconnectDelay = options.reconnectDelay ?? [50, 5000];
    this.remember = options.remember ?? true;
    this.sessionId = null;
    this.lastSeq = 0;
    this.reconnects = 0;
    this._ws = null;
    this._ready = false;
    this._closing = false;
    this._cseq = 0;
    this._pending = new Map(); // cseq -> {resolve, reject, timer}
    this._waiters = []; // requests waiting for the connection to be ready
    this._listeners = new Map(); // event -> Set(fn)
    this._credentials = null;
    this._subscriptions = new Map(); // "kind=value" -> {kind: value}
    this._retry = null;
  }

  /** Connect and resolve with the client once the WebSocket is open. */
  static async connect(url, options = {}) {
    const client = new CallControlClient(url, options);
    await client.open();
    return client;
  }

  get connected() {
    return this._ready;
  }

  async open() {
    this._closing = false;
    this._ws = await this._dial();
    this._setReady(true);
  }

  /** Close for good: no reconnect; requests in flight reject with ConnectionLost. */
  close() {
    this._closing = true;
    clearTimeout(this._retry);
    this._setReady(false);
    if (this._ws) this._ws.close(1000, "client closed");
    this._failPending(new ConnectionLost("client closed"));
    for (const w of this._waiters.splice(0)) w.reject(new ConnectionLost("client closed"));
  }

  // ------------------------------------------------------------------ events

  /** Listen to "notification", "overflow", "resync", "open", "close", "reconnect". */
  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return this;
  }

  off(event, fn) {
    this._listeners.get(event)?.delete(fn);
    return this;
  }

  /** The next `event`, as a promise (rejects after `timeout` ms when given). */
  once(event, timeout) {
    return new Promise((resolve, reject) => {
      const timer = timeout === undefined ? null
        : setTimeout(() => { this.off(event, fn); reject(new RequestTimeout(`no ${event} within ${timeout} ms`)); },
          timeout);
      const fn = (value) => { clearTimeout(timer); this.off(event, fn); resolve(value); };
      this.on(event, fn);
    });
  }

  _emit(event, value) {
    for (const fn of [...(this._listeners.get(event) ?? [])]) {
      try {
        fn(value);
      } catch (err) {
        console.error(`callcontrol: a "${event}" listener threw`, err);
      }
    }
  }

  /**
   * Notifications as an async iterator: "update" ones, and the "overflow" and "resync" markers.
   * Each call makes its own buffer, from now on; leaving the for-await loop stops it.
   */
  notifications() {
    const buffer = [];
    let wake = null;
    const push = (n) => {
      buffer.push(n);
      if (wake) { wake(); wake = null; }
    };
    const events = ["notification", "overflow", "resync"];
    for (const e of events) this.on(e, push);
    const stop = () => { for (const e of events) this.off(e, push); };
    return {
      [Symbol.asyncIterator]() { return this; },
      async next() {
        while (buffer.length === 0) await new Promise((resolve) => { wake = resolve; });
        return { value: buffer.shift(), done: false };
      },
      async return() {
        stop();
        return { value: undefined, done: true };
      },
    };
  }

  // ------------------------------------------------------------------ connection

  _dial() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this.WebSocket(this.url);
      } catch (err) {
        reject(err);
        return;
      }
      let opened = false;
      ws.onopen = () => {
        opened = true;
        resolve(ws);
        this._emit("open", {});
      };
      ws.onmessage = (ev) => this._onFrame(ev.data);
      ws.onerror = () => {
        if (!opened) reject(new ConnectionLost(`cannot connect to ${this.url}`));
      };
      ws.onclose = (ev) => {
        if (!opened) {
          reject(new ConnectionLost(`cannot connect to ${this.url} (${ev.code})`));
          return;
        }
        this._onClose(ws, ev);
      };
    });
  }

  _onClose(ws, ev) {
    if (ws !== this._ws) return;
    this._setReady(false);
    this._failPending(new ConnectionLost(`connection closed (${ev.code} ${ev.reason || ""})`.trim()));
    this._emit("close", { code: ev.code, reason: ev.reason });
    if (this._closing || !this.reconnect) {
      for (const w of this._waiters.splice(0)) w.reject(new ConnectionLost("connection closed"));
      return;
    }
    this._scheduleReconnect(this.reconnectDelay[0]);
  }

  _scheduleReconnect(delay) {
    this._retry = setTimeout(() => this._reconnectOnce(delay), delay);
  }

  async _reconnectOnce(delay) {
    if (this._closing) return;
    const next = Math.min(this.reconnectDelay[1], delay * 2);
    let ws;
    try {
      ws = await this._dial();
    } catch {
      this._scheduleReconnect(next);
      return;
    }
    this._ws = ws;
    try {
      await this._restore();
    } catch (err) {
      if (ws.readyState === 1) ws.close(1000, "restore failed");
      if (!this._closing) this._scheduleReconnect(next);
      return;
    }
    this.reconnects += 1;
    this._setReady(true);
    this._emit("reconnect", { reconnects: this.reconnects });
  }

  /** After a reconnect: resume the session's stream, or log in again and re-subscribe. */
  async _restore() {
    if (this.sessionId === null) return;
    try {
      await this._call("Session", "resume", { session_id: this.sessionId, last_seq: this.lastSeq }, null, false);
      return;
    } catch (err) {
      if (!(err instanceof CallControlError)) throw err;
      if (err.code === "session.resync_required") {
        if (err.details && Number.isInteger(err.details.last_seq)) this.lastSeq = err.details.last_seq;
        this._emit("resync", { action: "resync", reason: "the server no longer had the missed notifications" });
        return;
      }
      if (err.code === "sip.wrong_parameters") return; // never subscribed: nothing to resume
      if (err.code !== "auth.session_expired") throw err;
    }
    if (this._credentials === null) {
      this.sessionId = null;
      this._emit("resync", { action: "resync", reason: "session expired" });
      return;
    }
    const result = await this._call("Session", "login", this._credentials, null, false);
    this.sessionId = result.session_id;
    this.lastSeq = 0;
    for (const key of this._subscriptions.values()) {
      await this._call("CallControl", "enable_api_notifications", { event: EVENT, ...key },
        { session_id: this.sessionId }, false);
    }
    this._emit("resync", { action: "resync", reason: "session expired; logged in again" });
  }

  _setReady(ready) {
    this._ready = ready;
    if (ready) for (const w of this._waiters.splice(0)) w.resolve();
  }

  _whenReady(timeout) {
    if (this._ready) return Promise.resolve();
    if (this._closing || (!this.reconnect && this._ws === null)) {
      return Promise.reject(new ConnectionLost("not connected"));
    }
    return new Promise((resolve, reject) => {
      const waiter = { resolve: () => { clearTimeout(timer); resolve(); }, reject: (e) => { clearTimeout(timer); reject(e); } };
      const timer = setTimeout(() => {
        this._waiters = this._waiters.filter((w) => w !== waiter);
        reject(new RequestTimeout(`not reconnected within ${timeout} ms`));
      }, timeout);
      this._waiters.push(waiter);
    });
  }

  _onFrame(data) {
    if (typeof data !== "string") return; // the server sends text frames only
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg === null || typeof msg !== "object" || Array.isArray(msg)) return;
    if (msg.action === undefined) {
      const pending = this._pending.get(msg.cseq);
      if (pending) {
        this._pending.delete(msg.cseq);
        clearTimeout(pending.timer);
        if (msg.success === 1) pending.resolve(msg.result ?? {});
        else {
          const e = msg.error ?? {};
          pending.reject(new CallControlError(String(e.code ?? "error"), String(e.message ?? ""), e.details ?? null));
        }
      }
      return;
    }
    if (Number.isInteger(msg.seq)) {
      if (msg.action === "update" && msg.seq <= this.lastSeq) return; // replayed twice
      this.lastSeq = msg.seq;
    }
    const note = { action: msg.action, seq: msg.seq ?? null, call_info: msg.result?.call_info ?? null, raw: msg };
    this._emit(msg.action === "update" ? "notification" : msg.action, note);
  }

  _failPending(err) {
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  // ------------------------------------------------------------------ requests

  async _call(service, method, params, authInfo, waitReady = true, dryRun = false, timeout = this.requestTimeout) {
    if (waitReady) await this._whenReady(timeout);
    const ws = this._ws;
    if (ws === null || ws.readyState !== 1) throw new ConnectionLost("not connected");
    const cseq = ++this._cseq;
    const msg = { cseq, service, method, params: params ?? {} };
    if (authInfo) msg.auth_info = authInfo;
    if (dryRun) msg.aux_info = { dry_run: 1 };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(cseq);
        reject(new RequestTimeout(`${service}.${method}: no answer within ${timeout} ms`));
      }, timeout);
      this._pending.set(cseq, { resolve, reject, timer });
      ws.send(JSON.stringify(msg));
    });
  }

  _auth() {
    return this.sessionId === null ? this._authInfo ?? null : { session_id: this.sessionId };
  }

  /** Any method by name; resolves with its `result` object (rejects with CallControlError). */
  request(service, method, params = {}, { dryRun = false, timeout } = {}) {
    return this._call(service, method, params, this._auth(), true, dryRun, timeout ?? this.requestTimeout);
  }

  /** A request without cseq: the server runs it and answers nothing. */
  async sendWithoutCseq(service, method, params = {}) {
    await this._whenReady(this.requestTimeout);
    const msg = { service, method, params };
    const auth = this._auth();
    if (auth) msg.auth_info = auth;
    this._ws.send(JSON.stringify(msg));
  }

  _method(name, params) {
    return this.request(METHODS[name], name, defined(params));
  }

  // ------------------------------------------------------------------ Session

  /** Start a session; resolves with its id (kept in memory only, in `sessionId`). */
  async login(login, password, domain) {
    const params = defined({ login, password, domain });
    const result = await this._call("Session", "login", params, null);
    this.sessionId = result.session_id;
    this._credentials = this.remember ? params : null;
    return this.sessionId;
  }

  /** Authenticate every request with auth_info {login, password} instead of a session. */
  useCredentials(login, password, domain) {
    this._authInfo = defined({ login, password, domain });
  }

  async logout() {
    await this.request("Session", "logout", {});
    this.sessionId = null;
    this._credentials = null;
    this._subscriptions.clear();
  }

  /** Move a session's notification stream onto this connection (done by the client itself on reconnect). */
  async resume(sessionId = this.sessionId, lastSeq = this.lastSeq) {
    const result = await this._call("Session", "resume", { session_id: sessionId, last_seq: lastSeq }, null);
    this.sessionId = sessionId;
    return result;
  }

  // ------------------------------------------------------------------ CallControl

  async enableApiNotifications(k) {
    const wire = keys(k);
    await this._method("enable_api_notifications", { event: EVENT, ...wire });
    for (const [kind, value] of Object.entries(wire)) this._subscriptions.set(`${kind}=${value}`, { [kind]: value });
  }

  async disableApiNotifications(k) {
    const wire = keys(k);
    await this._method("disable_api_notifications", { event: EVENT, ...wire });
    for (const [kind, value] of Object.entries(wire)) this._subscriptions.delete(`${kind}=${value}`);
  }

  /** The legs in progress (SIPCallInfo objects) for the keys given. */
  async getSipCallsList(k) {
    const result = await this._method("get_sip_calls_list", keys(k));
    return result.calls_list ?? [];
  }

  /** Ours: the CDRs billed to what the session covers ({i_account, i_customer, from_date, to_date, limit, offset}). */
  async getCdrList(query = {}) {
    const result = await this._method("get_cdr_list", query);
    return result.cdr_list ?? [];
  }

  /** Call caller_id, then (once it answers) callee_id; resolves with the new call's {id}. */
  async originateAdvancedCall({ bill_id, caller_id, callee_id, callee_auto_pickup = false }) {
    const result = await this._method("originate_advanced_call", {
      bill_id, caller_id, callee_id, callee_auto_pickup: callee_auto_pickup === true || callee_auto_pickup === "Y" ? "Y" : "N",
    });
    return result.call;
  }

  async answerCall(call, { transport_id, callee_answer_mode } = {}) {
    await this._method("answer_call", { call: callRef(call), transport_id, callee_answer_mode });
  }

  async terminateCall(call, { transport_id } = {}) {
    await this._method("terminate_call", { call: callRef(call), transport_id });
  }

  async holdCall(call, { transport_id } = {}) {
    await this._method("hold_call", { call: callRef(call), transport_id });
  }

  async unholdCall(call, { transport_id } = {}) {
    await this._method("unhold_call", { call: callRef(call), transport_id });
  }

  /** Blind transfer: `call` (the transferor) ends, the other party is connected to `cld`. */
  async transferCall(call, cld, { transport_id } = {}) {
    await this._method("transfer_call", { call: callRef(call), cld, transport_id });
  }

  /** Attended transfer: `call` and `toCall` are the transferor's two legs; their far ends are bridged. */
  async joinCalls(call, toCall, { transport_id } = {}) {
    await this._method("join_calls", { call: callRef(call), to_call: callRef(toCall), transport_id });
  }

  async playPrompt(call, url, { order, repeat, transport_id } = {}) {
    await this._method("play_prompt", { call: callRef(call), url, order, repeat, transport_id });
  }

  async stopPlayPrompt(call, { order, transport_id } = {}) {
    await this._method("stop_play_prompt", { call: callRef(call), order, transport_id });
  }

  async startDtmfDetect(call, { transport_id } = {}) {
    await this._method("start_dtmf_detect", { call: callRef(call), transport_id });
  }

  async stopDtmfDetect(call, { transport_id } = {}) {
    await this._method("stop_dtmf_detect", { call: callRef(call), transport_id });
  }
}

/** The phone of a leg: the party whose dialog it is (outgoing: the caller started it; incoming: the callee got it). */
export function phoneParty(info) {
  return info.type === "outgoing" ? info.caller : info.callee;
}

/** The far party of a leg, seen from its phone. */
export function peerParty(info) {
  return info.type === "outgoing" ? info.callee : info.caller;
}
