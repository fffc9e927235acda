// Compiled (not run) by client.test.mjs with `tsc --strict`: a typical use of the client must type-check
// against callcontrol.d.ts, and the wrong uses marked @ts-expect-error must not.
import { CallControlClient, CallControlError, type SipCallInfo, phoneParty } from "../../callcontrol/web/static/callcontrol.js";

export async function attendant(url: string): Promise<SipCallInfo[]> {
  const cc = await CallControlClient.connect(url, { requestTimeout: 5000, reconnectDelay: [50, 1000] });
  const sid: string = await cc.login("demo-corp", "demo-corp-pass");
  void sid;
  await cc.enableApiNotifications({ i_customer: 1 });
  const calls = await cc.getSipCallsList({ i_customer: 1 });
  cc.on("notification", (n) => {
    if (n.call_info !== null && n.call_info.state === "holding") void cc.unholdCall(n.call_info.call);
  });
  cc.on("close", ({ code, reason }) => void `${code} ${reason}`);
  for await (const n of cc.notifications()) {
    if (n.action === "resync") break;
    const info = n.call_info;
    if (info === null) continue;
    const who: string = phoneParty(info).id;
    if (info.state === "ringing") await cc.answerCall(info.call, { callee_answer_mode: "Invite" });
    if (info.state === "connected") await cc.transferCall(info.call, who, { transport_id: info.transport_id });
  }
  const { id } = await cc.originateAdvancedCall({ bill_id: "1001", caller_id: "1001", callee_id: "1002" });
  await cc.joinCalls({ id }, { id, tag: "t" });
  await cc.playPrompt({ id }, "http://127.0.0.1/p", { order: 3, repeat: -1 });
  try {
    await cc.holdCall({ id, tag: null });
  } catch (err) {
    if (err instanceof CallControlError) void err.code;
  }
  // @ts-expect-error: a state that does not exist
  const bad: SipCallInfo["state"] = "parked";
  void bad;
  // @ts-expect-error: order is 2 or 3
  await cc.stopPlayPrompt({ id }, { order: 4 });
  // @ts-expect-error: transferCall needs the number
  await cc.transferCall({ id });
  cc.close();
  return calls;
}
