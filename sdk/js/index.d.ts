// Type declarations of the trail JavaScript SDK (src/index.js).

/** An actor: who did it. */
export interface Actor {
  id: string;
  name?: string;
  type?: 'user' | 'service' | 'api_key' | 'system';
  email?: string;
}

/** The resource acted on. */
export interface Resource {
  type?: string;
  id?: string;
  name?: string;
}

/** A trail event as a client sends it (DESIGN.md §2). */
export interface TrailEvent {
  /** Idempotency id; the SDK sets a UUID when absent. */
  id?: string;
  time?: string | Date;
  tenant?: string;
  action: string;
  outcome?: 'success' | 'failure' | 'denied' | 'error' | 'unknown';
  severity?: 'info' | 'low' | 'medium' | 'high' | 'critical';
  actor: Actor;
  resource?: Resource;
  source?: { ip?: string; user_agent?: string; origin?: string };
  request?: { id?: string; method?: string; path?: string; status?: number; duration_ms?: number };
  changes?: Array<{ field: string; old?: unknown; new?: unknown }>;
  reason?: string;
  metadata?: Record<string, unknown>;
}

/** What the server returns for each stored event. */
export interface Receipt {
  id: string;
  seq: number;
  tenant: string;
  /** Standard base64 SHA-256 leaf hash. */
  leaf_hash: string;
  /** Set when the id was already stored: this is the original receipt. */
  duplicate?: boolean;
}

/** A Frontegg-style audit record, as taken by sendAudit. */
export interface Audit {
  tenantId?: string;
  /** Actor id (an e-mail also fills actor.email), or an actor object. */
  user: string | Actor;
  /** Resource type, or a resource object. */
  resource?: string | Resource;
  /** Free text is turned into a slug; the text is kept in metadata.action_text. */
  action: string;
  severity?: 'Info' | 'Low' | 'Medium' | 'High' | 'Critical' | 'Error' | 'info' | 'low' | 'medium' | 'high' | 'critical' | 'error';
  ip?: string;
  userAgent?: string;
  description?: string;
  id?: string;
  time?: string | Date;
  outcome?: TrailEvent['outcome'];
  metadata?: Record<string, unknown>;
  /** Any other key goes into metadata. */
  [key: string]: unknown;
}

export interface TrailClientOptions {
  /** Base URL of the trail server. */
  server: string;
  /** API key with the writer role. */
  key: string;
  /** Tenant for a key scoped to all tenants (?tenant=). */
  tenant?: string;
  /** Events per request, 1..10000. Default 100. */
  batchSize?: number;
  /** Longest wait before a partial batch is sent. Default 1000. */
  flushIntervalMs?: number;
  /** Retries of a failed batch. Default 5. */
  maxRetries?: number;
  /** First backoff, doubled per retry, with jitter. Default 200. */
  retryBaseMs?: number;
  /** Longest backoff and longest Retry-After honoured. Default 30000. */
  retryMaxMs?: number;
  /** Events queued before send() rejects with queue_full. Default 10000. */
  maxQueue?: number;
  /** Per request. Default 30000. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  newId?: () => string;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class TrailError extends Error {
  /** The server's error code (invalid, forbidden, rate_limited, …) or network, closed, queue_full, config. */
  code: string;
  /** HTTP status, 0 without a response. */
  status: number;
  /** The offending input, e.g. "action" or "events[3].actor.id". */
  field: string;
  /** Retry-After of the last retryable answer, in ms. */
  retryAfterMs?: number;
  constructor(message: string, options?: { code?: string; status?: number; field?: string; cause?: unknown });
}

export class TrailClient {
  constructor(options: TrailClientOptions);
  /** Events queued and not yet in a request. */
  readonly pending: number;
  /** Queues an event; resolves with its receipt once stored. */
  send(event: TrailEvent): Promise<Receipt>;
  /** Queues a Frontegg-style audit record (see auditToEvent). */
  sendAudit(audit: Audit): Promise<Receipt>;
  /** Sends everything queued; resolves when nothing is in flight. Never rejects. */
  flush(): Promise<void>;
  /** Flushes, then refuses further sends. */
  close(): Promise<void>;
}

/** Maps a Frontegg-style audit record onto trail's event. Throws TrailError (invalid). */
export function auditToEvent(audit: Audit): TrailEvent;

/** Parses a Retry-After header (seconds or HTTP date) into milliseconds. */
export function retryAfterMs(header: string | null | undefined, now?: number): number | undefined;

/** Formats 16 random bytes as a version 4 UUID (the fallback id generator). */
export function uuidV4(bytes: Uint8Array): string;
