// TypeScript declarations of callcontrol.js, written to match the API's schema (/api/asyncapi.json;
// tests/unit/test_js_client.py checks every interface's properties against the pydantic models).

export declare const EVENT: "sip.call_control_notifications";
export declare const METHODS: Readonly<Record<MethodName, "Session" | "CallControl">>;

export type MethodName =
  | "login" | "logout" | "resume"
  | "enable_api_notifications" | "disable_api_notifications" | "get_sip_calls_list" | "get_cdr_list"
  | "originate_advanced_call" | "answer_call" | "terminate_call" | "hold_call" | "unhold_call"
  | "transfer_call" | "join_calls" | "play_prompt" | "stop_play_prompt" | "start_dtmf_detect"
  | "stop_dtmf_detect";

export type CallState =
  | "trying" | "ringing" | "early" | "connected" | "held" | "holding" | "terminated" | "queued" | "dequeued";

/** SipCallIdentifier: `id` is the call, `tag` one leg of it. */
export interface CallRef {
  id: string;
  tag?: string | null;
}

/** SipForwarderAccountInfo. */
export interface ForwarderInfo {
  id: string;
}

/** A party of a leg (caller or callee). */
export interface SipCallerInfo {
  id: string;
  account_id?: string | null;
  centrex_id?: string | null;
  display_id?: string | null;
  display_name?: string | null;
  extension_id?: string | null;
  huntgroup_id?: string | null;
  access_number?: string | null;
  forwarder_list?: ForwarderInfo[];
}

/** SipCallQueueStateInfo (queued, dequeued). */
export interface QueueInfo {
  i_c_queue: number;
  position: number;
  operators: number;
}

/** SIPCallInfo: one leg (a dialog with one phone) of a call. */
export interface SipCallInfo {
  call: CallRef;
  caller: SipCallerInfo;
  callee: SipCallerInfo;
  state: CallState;
  transport_id: string;
  /** outgoing: the phone started this dialog; incoming: the phone received it. */
  type: "incoming" | "outgoing";
  start_time?: string | null;
  connect_time?: string | null;
  duration?: number | null;
  reason?: string | null;
  reason_code?: number | null;
  queue_info?: QueueInfo | null;
  event?: "play_prompt_completed" | "dtmf_digit_detected" | null;
  digit?: string | null;
  order?: 2 | 3 | null;
  dtmf_method?: "rfc4733" | "info" | "inband" | null;
}

/** What the notification stream yields. */
export interface Notification {
  /** update: a leg changed; overflow: the server cut the connection off (the client resumes). */
  action: "update" | "overflow";
  seq: number | null;
  call_info: SipCallInfo | null;
  raw: Record<string, unknown>;
}

/** Emitted when notifications were lost: list the calls again (getSipCallsList). */
export interface ResyncMarker {
  action: "resync";
  reason: string;
}

/** The keys of a subscription or a listing: at least one. */
export interface Keys {
  i_account?: number;
  i_customer?: number;
  i_main_office?: number;
  i_ivr_an?: number;
}

export interface LegOptions {
  /** "IP:port" of the call (may be omitted on a single server). */
  transport_id?: string;
}

export interface OriginateParams {
  bill_id: string;
  caller_id: string;
  callee_id: string;
  callee_auto_pickup?: boolean | "Y" | "N";
}

/** Ours: one CDR (docs/operations.md, "CDRs"); times ISO-8601 UTC. */
export interface CdrInfo {
  call_id: string;
  leg_tag: string | null;
  leg_id: string | null;
  sip_call_id: string | null;
  leg_type: "incoming" | "outgoing" | null;
  caller: string;
  callee: string;
  i_account: number | null;
  i_customer: number | null;
  route: string | null;
  start_time: string;
  connect_time: string | null;
  disconnect_time: string;
  duration: number;
  sip_code: number | null;
  sip_reason: string | null;
  disconnect_reason: string;
  hangup_side: "caller" | "callee" | "server" | null;
  huntgroup_id: string | null;
  forwarders: string[];
}

export interface CdrQuery {
  i_account?: number;
  i_customer?: number;
  /** ISO-8601 (UTC unless an offset is given) or a date. */
  from_date?: string;
  /** Excluded; ISO-8601 or a date. */
  to_date?: string;
  limit?: number;
  offset?: number;
}

export interface ResumeResult {
  success: 1;
  replayed: number;
  last_seq: number;
}

export interface ClientOptions {
  /** The WebSocket class (default globalThis.WebSocket; in Node e.g. `(await import("ws")).WebSocket`). */
  WebSocket?: unknown;
  /** Reconnect and resume when the connection drops (default true). */
  reconnect?: boolean;
  /** Milliseconds a request waits for its answer (default 10000). */
  requestTimeout?: number;
  /** [first, max] milliseconds between reconnect attempts (default [50, 5000]). */
  reconnectDelay?: [number, number];
  /** Keep the credentials in memory to log in again when the session expires (default true). */
  remember?: boolean;
}

export interface ClientEvents {
  notification: Notification;
  overflow: Notification;
  resync: ResyncMarker;
  open: Record<string, never>;
  close: { code: number; reason: string };
  reconnect: { reconnects: number };
}

export declare class CallControlError extends Error {
  readonly code: string;
  readonly details: unknown;
  readonly serverMessage: string;
  constructor(code: string, message: string, details?: unknown);
}

export declare class ConnectionLost extends Error {}
export declare class RequestTimeout extends Error {}

export declare class CallControlClient {
  constructor(url: string, options?: ClientOptions);
  static connect(url: string, options?: ClientOptions): Promise<CallControlClient>;

  readonly url: string;
  /** The session id: in memory only. */
  sessionId: string | null;
  /** seq of the newest notification seen (what Session.resume sends). */
  lastSeq: number;
  reconnects: number;
  readonly connected: boolean;

  open(): Promise<void>;
  close(): void;

  on<E extends keyof ClientEvents>(event: E, fn: (value: ClientEvents[E]) => void): this;
  off<E extends keyof ClientEvents>(event: E, fn: (value: ClientEvents[E]) => void): this;
  once<E extends keyof ClientEvents>(event: E, timeout?: number): Promise<ClientEvents[E]>;
  notifications(): AsyncIterableIterator<Notification | ResyncMarker>;

  request(service: string, method: string, params?: Record<string, unknown>,
          options?: { dryRun?: boolean; timeout?: number }): Promise<Record<string, unknown>>;
  sendWithoutCseq(service: string, method: string, params?: Record<string, unknown>): Promise<void>;

  login(login: string, password: string, domain?: string): Promise<string>;
  useCredentials(login: string, password: string, domain?: string): void;
  logout(): Promise<void>;
  resume(sessionId?: string, lastSeq?: number): Promise<ResumeResult>;

  enableApiNotifications(keys: Keys): Promise<void>;
  disableApiNotifications(keys: Keys): Promise<void>;
  getSipCallsList(keys: Keys): Promise<SipCallInfo[]>;
  getCdrList(query?: CdrQuery): Promise<CdrInfo[]>;
  originateAdvancedCall(params: OriginateParams): Promise<{ id: string }>;
  answerCall(call: CallRef, options?: LegOptions & { callee_answer_mode?: "Notify" | "Invite" }): Promise<void>;
  terminateCall(call: CallRef, options?: LegOptions): Promise<void>;
  holdCall(call: CallRef, options?: LegOptions): Promise<void>;
  unholdCall(call: CallRef, options?: LegOptions): Promise<void>;
  transferCall(call: CallRef, cld: string, options?: LegOptions): Promise<void>;
  joinCalls(call: CallRef, toCall: CallRef, options?: LegOptions): Promise<void>;
  playPrompt(call: CallRef, url: string, options?: LegOptions & { order?: 2 | 3; repeat?: number }): Promise<void>;
  stopPlayPrompt(call: CallRef, options?: LegOptions & { order?: 2 | 3 }): Promise<void>;
  startDtmfDetect(call: CallRef, options?: LegOptions): Promise<void>;
  stopDtmfDetect(call: CallRef, options?: LegOptions): Promise<void>;
}

/** The phone of a leg (outgoing: its caller; incoming: its callee). */
export declare function phoneParty(info: SipCallInfo): SipCallerInfo;
/** The far party of a leg, seen from its phone. */
export declare function peerParty(info: SipCallInfo): SipCallerInfo;
