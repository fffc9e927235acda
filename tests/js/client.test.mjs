// The JavaScript client (callcontrol/web/static/callcontrol.js) under Node, against the real server.
//
// Run by tests/integration/test_js_client.py, which starts `callcontrol serve` and SIPp phones
// (1001, 1002, 1003) and passes CC_WS_URL, CC_HTTP_URL, CC_SIP_PORT and CC_ROOT:
//   node --test tests/js/client.test.mjs
// WebSocket is the `ws` package from npm (tests/js/package.json; scripts/run-tests installs it).
// Every wait is bounded (WAIT) and event-driven; nothing sleeps.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import dgram from "node:dgram";
import net from "node:net";
import path from "node:path";
import { test } from "node:test";

import { WebSocket } from "ws";

import {
  CallControlClient, CallControlError, ConnectionLost, METHODS, phoneParty,
} from "../../callcontrol/web/static/callcontrol.js";

const WS_URL = process.env.CC_WS_URL;
const HTTP_URL = process.env.CC_HTTP_URL;
const SIP_PORT = process.env.CC_SIP_PORT;
const ROOT = process.env.CC_ROOT;
const WAIT = 20000;
assert.ok(WS_URL && HTTP_URL && SIP_PORT && ROOT, "run me from tests/integration/test_js_client.py");

const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

function connect(url = WS_URL, options = {}) {
  return CallControlClient.connect(url, { WebSocket, requestTimeout: WAIT, ...options });
}

async function loggedIn(url = WS_URL, options = {}) {
  const cc = await connect(url, options);
  await cc.login("demo-corp", "demo-corp-pass");
  return cc;
}

function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket("udp4");
    sock.on("error", reject);
    sock.bind(0, "127.0.0.1", () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}

/** A SIPp caller (sipp_scenarios/console_caller.xml) calling `number`; `done` resolves with its exit code. */
async function sippCall(number) {
  const [port, media] = [await freeUdpPort(), await freeUdpPort()];
  const child = spawn("sipp", [`127.0.0.1:${SIP_PORT}`, "-sf", path.join(ROOT, "sipp_scenarios", "console_caller.xml"),
    "-s", number, "-i", "127.0.0.1", "-p", String(port), "-mp", String(media), "-m", "1", "-nostdin", "-timeout", "60s",
    "-timeout_error"], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const done = new Promise((resolve) => child.on("exit", (code) => resolve({ code, stderr })));
  return { child, done };
}

/** Collects a client's notifications; `until` waits (bounded) for a (phone id, state) per leg. */
class Board {
  constructor(cc) {
    this.notes = [];
    this.waiters = [];
    cc.on("notification", (n) => {
      this.notes.push(n);
      for (const w of [...this.waiters]) w();
    });
  }

  seen(phone, state) {
    return this.notes.some((n) => phoneParty(n.call_info).id === phone && n.call_info.state === state);
  }

  leg(phone) {
    for (let i = this.notes.length - 1; i >= 0; i -= 1) {
      const info = this.notes[i].call_info;
      if (phoneParty(info).id === phone) return info;
    }
    throw new Error(`no leg of ${phone}`);
  }

  until(pairs, what = JSON.stringify(pairs)) {
    const done = () => pairs.every(([phone, state]) => this.seen(phone, state));
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`no ${what} within ${WAIT} ms; got ${this.notes.map((n) => `${phoneParty(n.call_info).id}:${n.call_info.state}`)}`));
      }, WAIT);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }
}

/** A TCP relay in front of the WebSocket port: cut() drops every connection, and refuses new ones until reopen(). */
class CuttableProxy {
  constructor(upstreamPort) {
    this.upstreamPort = upstreamPort;
    this.open = true;
    this.sockets = new Set();
    this.accepted = 0;
    this.server = net.createServer((client) => this._relay(client));
  }

  start() {
    return new Promise((resolve) => this.server.listen(0, "127.0.0.1", () => resolve()));
  }

  get url() {
    return `ws://127.0.0.1:${this.server.address().port}/ws`;
  }

  _relay(client) {
    if (!this.open) {
      client.destroy();
      return;
    }
    this.accepted += 1;
    const upstream = net.connect(this.upstreamPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
      s.on("error", () => {});
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  }

  cut() {
    this.open = false;
    for (const s of this.sockets) s.destroy();
  }

  reopen() {
    this.open = true;
  }

  close() {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

test("login, cseq matching of concurrent requests, errors", async () => {
  const cc = await connect();
  await assert.rejects(cc.login("demo-corp", "wrong"), (err) => err instanceof CallControlError && err.code === "auth.failed");
  const sid = await cc.login("demo-corp", "demo-corp-pass");
  assert.match(sid, /^[0-9a-f]{32}$/);
  assert.equal(cc.sessionId, sid);
  // Several requests in flight at once: each answer goes to its own request (by cseq).
  const [own, branch, other, dry] = await Promise.all([
    cc.getSipCallsList({ i_customer: 1 }),
    cc.getSipCallsList({ i_customer: 2 }),
    cc.request("CallControl", "get_sip_calls_list", { i_customer: 3 }),
    cc.request("CallControl", "transfer_call", { call: { id: "x" }, cld: 1003 }, { dryRun: true }),
  ]);
  assert.deepEqual([own, branch, other.calls_list], [[], [], []]);
  assert.deepEqual(dry, { dry_run: 1, params: { call: { id: "x", tag: null }, transport_id: null, cld: "1003" }, ignored: [], success: 1 });
  await assert.rejects(cc.enableApiNotifications({ i_customer: 3 }), (err) => err.code === "auth.forbidden");
  await assert.rejects(cc.request("CallControl", "make_coffee"), (err) => err.code === "sip.unsupported_method");
  await cc.logout();
  assert.equal(cc.sessionId, null);
  await assert.rejects(cc.getSipCallsList({ i_customer: 1 }), (err) => err.code === "auth.failed");
  cc.close();
  await assert.rejects(cc.getSipCallsList({ i_customer: 1 }), ConnectionLost);
});

test("a method for every API method, each reaching the server with valid params", async () => {
  const doc = await (await fetch(`${HTTP_URL}/api/asyncapi.json`)).json();
  const served = Object.values(doc.operations).filter((op) => op.action === "receive").map((op) => op.title);
  assert.deepEqual(served.map((t) => t.split(".")[1]).sort(), Object.keys(METHODS).sort());
  for (const title of served) {
    const [service, name] = title.split(".");
    assert.equal(METHODS[name], service, title);
    assert.equal(typeof CallControlClient.prototype[camel(name)], "function", `no ${camel(name)}()`);
  }
  const cc = await loggedIn();
  const nope = { id: "nope@nowhere", tag: "x" };
  const notFound = (err) => err instanceof CallControlError && err.code === "sip.call_not_found";
  // Each command on a leg that does not exist: "not found", i.e. the server took the params as valid.
  await assert.rejects(cc.answerCall(nope, { callee_answer_mode: "Invite" }), notFound);
  await assert.rejects(cc.terminateCall(nope), notFound);
  await assert.rejects(cc.holdCall(nope, { transport_id: `127.0.0.1:${SIP_PORT}` }), notFound);
  await assert.rejects(cc.unholdCall(nope), notFound);
  await assert.rejects(cc.transferCall(nope, "1003"), notFound);
  await assert.rejects(cc.joinCalls(nope, { id: "other", tag: "y" }), notFound);
  await assert.rejects(cc.playPrompt(nope, "http://127.0.0.1:9/p", { order: 3, repeat: -1 }), notFound);
  await assert.rejects(cc.stopPlayPrompt(nope, { order: 3 }), notFound);
  await assert.rejects(cc.startDtmfDetect(nope), notFound);
  await assert.rejects(cc.stopDtmfDetect(nope), notFound);
  assert.ok(Array.isArray(await cc.getCdrList({ from_date: "2020-01-01", limit: 5 })));
  await assert.rejects(cc.getCdrList({ limit: 0 }), (err) => err.code === "sip.wrong_parameters");
  await assert.rejects(cc.originateAdvancedCall({ bill_id: "3001", caller_id: "1001", callee_id: "1002" }),
    (err) => err.code === "sip.wrong_parameters" && err.details[0].field === "params.bill_id");
  await cc.enableApiNotifications({ i_account: 2 });
  await cc.disableApiNotifications({ i_account: 2 });
  const wrong = await cc.request("CallControl", "hold_call", { call: { tag: "x" } }).catch((e) => e);
  assert.equal(wrong.code, "sip.wrong_parameters");
  assert.deepEqual(wrong.details.map((d) => d.field), ["params.call.id"]);
  cc.close();
});

test("a SIPp call: notifications, hold, resume after a cut connection, terminate", async () => {
  const proxy = new CuttableProxy(Number(new URL(WS_URL).port));
  await proxy.start();
  const cc = await loggedIn(proxy.url, { reconnectDelay: [20, 200] });
  const helper = await loggedIn();
  try {
    await cc.enableApiNotifications({ i_customer: 1 });
    const board = new Board(cc);
    const iterated = [];
    const iterating = (async () => {
      for await (const n of cc.notifications()) {
        iterated.push(n);
        if (n.call_info?.state === "terminated" && phoneParty(n.call_info).id === "1002") break;
      }
    })();
    const caller = await sippCall("1002");
    await board.until([["1002", "ringing"], ["1002", "connected"], ["sipp", "connected"]]);
    const listed = await cc.getSipCallsList({ i_customer: 1 });
    assert.equal(listed.length, 2);
    const leg = board.leg("1002");
    assert.equal(leg.type, "incoming");
    assert.equal(leg.caller.id, "sipp");
    await cc.holdCall(leg.call, { transport_id: leg.transport_id });
    await board.until([["1002", "holding"], ["sipp", "held"]]);

    // Cut the connection; while it is down the call is taken off hold (by another client).
    const seqBefore = cc.lastSeq;
    const closed = cc.once("close", WAIT);
    proxy.cut();
    await closed;
    assert.equal(cc.connected, false);
    const missed = new Board(helper);
    await helper.enableApiNotifications({ i_account: 2 });
    await helper.unholdCall(leg.call);
    await missed.until([["1002", "connected"]]);
    const reconnected = cc.once("reconnect", WAIT);
    proxy.reopen();
    await reconnected;
    // Session.resume replayed what was missed, in order, without gaps.
    await board.until([["1002", "connected"], ["sipp", "connected"]].map(([p, s]) => [p, s]), "replayed unhold");
    const after = board.notes.filter((n) => n.seq > seqBefore).map((n) => n.seq);
    assert.deepEqual(after, after.map((_, i) => seqBefore + 1 + i));
    assert.ok(board.notes.filter((n) => n.seq > seqBefore).some((n) => n.call_info.state === "connected"));
    assert.equal(cc.reconnects, 1);
    assert.ok(proxy.accepted >= 2);

    await cc.terminateCall(leg.call);
    await board.until([["1002", "terminated"], ["sipp", "terminated"]]);
    const { code, stderr } = await caller.done;
    assert.equal(code, 0, stderr);
    await iterating;
    assert.deepEqual(iterated.map((n) => n.seq), board.notes.slice(0, iterated.length).map((n) => n.seq));
    const terminated = board.leg("1002");
    assert.equal(terminated.reason, "terminated by API");
    assert.equal(typeof terminated.duration, "number");
  } finally {
    cc.close();
    helper.close();
    await proxy.close();
  }
});

test("the TypeScript declarations compile against a strict use of the client", async () => {
  const tsc = path.join(ROOT, "tests", "js", "node_modules", "typescript", "bin", "tsc");
  const child = spawn(process.execPath, [tsc, "-p", path.join(ROOT, "tests", "js", "tsconfig.json")],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { out += d; });
  const code = await new Promise((resolve) => child.on("exit", resolve));
  assert.equal(code, 0, out);
});
