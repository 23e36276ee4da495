// trail JavaScript SDK: sends audit events to a trail server.
//
// No runtime dependencies; works in Node.js >= 18 and in browsers (it
// needs only fetch, AbortController, setTimeout and crypto.randomUUID,
// which Node 18 gets from node:crypto). See docs/sdk-js.md.
//
// Guarantees:
//   - Every event gets its id on the client (crypto.randomUUID) when
//     send() is called, before the first attempt, so a retry after a lost
//     response can never store it twice: trail answers a repeated id with
//     the original receipt ("duplicate": true).
//   - Events are sent in batches (POST /v1/events {"events":[…]}) of at
//     most batchSize, when batchSize are queued or flushIntervalMs after
//     the first queued one, one batch at a time, in send() order.
//   - A batch that fails with a network error, 408, 429, 500, 502, 503 or
//     504 is retried up to maxRetries times with exponential backoff and
//     jitter, waiting exactly Retry-After when the server sends it.
//   - A 400 that names one event (events[3].action) rejects that event
//     only; the rest of the batch is sent again at once.
//   - send() resolves with the event's receipt once the server has stored
//     it, or rejects with a TrailError; nothing is dropped silently.

const nodeCrypto = globalThis.crypto?.randomUUID ? null : await import('node:crypto').catch(() => null);

function defaultNewId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  if (nodeCrypto) return nodeCrypto.randomUUID();
  if (globalThis.crypto?.getRandomValues) return uuidV4(globalThis.crypto.getRandomValues(new Uint8Array(16)));
  throw new TrailError('no crypto.randomUUID in this runtime: pass options.newId', { code: 'config' });
}

// uuidV4 formats 16 random bytes as an RFC 9562 version 4 UUID, for pages
// served over plain HTTP, where browsers leave out crypto.randomUUID.
export function uuidV4(b) {
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Status codes after which a batch is sent again. */
const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

/**
 * TrailError is how the SDK fails: code is the server's error code
 * (invalid, forbidden, rate_limited, …) or one of the SDK's own
 * (network, closed, queue_full, config); status is the HTTP status when
 * there was a response; field names the offending input (action, or
 * events[3].actor.id as the server said it).
 */
export class TrailError extends Error {
  constructor(message, { code = 'error', status = 0, field = '', cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = 'TrailError';
    this.code = code;
    this.status = status;
    this.field = field;
  }
}

/**
 * TrailClient batches events and sends them to one trail server.
 * It is safe to call send() from many places at once; call close() (or
 * flush()) before the process exits.
 */
export class TrailClient {
  #server; #key; #tenant; #fetch; #newId; #random; #sleep;
  #batchSize; #flushIntervalMs; #maxRetries; #retryBaseMs; #retryMaxMs; #maxQueue; #timeoutMs;
  #queue = [];
  #timer = null;
  #sending = null;
  #closed = false;

  /**
   * @param {object} options
   * @param {string} options.server  base URL of the trail server, e.g. https://trail.example.com
   * @param {string} options.key     API key with the writer role
   * @param {string} [options.tenant] tenant for an all-tenant key (?tenant=)
   * @param {number} [options.batchSize=100]       events per request, 1..10000
   * @param {number} [options.flushIntervalMs=1000] longest wait before a partial batch is sent
   * @param {number} [options.maxRetries=5]        retries of a failed batch
   * @param {number} [options.retryBaseMs=200]     first backoff; doubles per retry
   * @param {number} [options.retryMaxMs=30000]    longest backoff, and longest Retry-After honoured
   * @param {number} [options.maxQueue=10000]      events queued before send() rejects (queue_full)
   * @param {number} [options.timeoutMs=30000]     per request
   * @param {typeof fetch} [options.fetch]         fetch implementation (default globalThis.fetch)
   * @param {() => string} [options.newId]         event id generator (default crypto.randomUUID)
   * @param {() => number} [options.random]        jitter source in [0,1) (default Math.random)
   * @param {(ms: number) => Promise<void>} [options.sleep] waits between retries
   */
  constructor(options = {}) {
    const {
      server, key, tenant = '', batchSize = 100, flushIntervalMs = 1000, maxRetries = 5,
      retryBaseMs = 200, retryMaxMs = 30000, maxQueue = 10000, timeoutMs = 30000,
      fetch = globalThis.fetch, newId = defaultNewId, random = Math.random,
      sleep = (ms) => new Promise((r) => setTimeout(r, ms)),
    } = options;
    let url;
    try {
      url = new URL(server);
    } catch {
      throw new TrailError(`server: ${JSON.stringify(server)} is not a URL`, { code: 'config', field: 'server' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TrailError('server: must be an http or https URL', { code: 'config', field: 'server' });
    }
    if (!key) throw new TrailError('key: required', { code: 'config', field: 'key' });
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10000) {
      throw new TrailError('batchSize: must be an integer between 1 and 10000', { code: 'config', field: 'batchSize' });
    }
    for (const [name, v] of Object.entries({ flushIntervalMs, maxRetries, retryBaseMs, retryMaxMs, maxQueue, timeoutMs })) {
      if (!Number.isFinite(v) || v < 0) throw new TrailError(`${name}: must be a number >= 0`, { code: 'config', field: name });
    }
    if (typeof fetch !== 'function') throw new TrailError('fetch: no fetch in this runtime: pass options.fetch', { code: 'config', field: 'fetch' });
    this.#server = url.href.replace(/\/+$/, '');
    this.#key = key;
    this.#tenant = tenant;
    this.#fetch = fetch;
    this.#newId = newId;
    this.#random = random;
    this.#sleep = sleep;
    this.#batchSize = batchSize;
    this.#flushIntervalMs = flushIntervalMs;
    this.#maxRetries = maxRetries;
    this.#retryBaseMs = retryBaseMs;
    this.#retryMaxMs = retryMaxMs;
    this.#maxQueue = maxQueue;
    this.#timeoutMs = timeoutMs;
  }

  /** Number of events queued and not yet handed to a request. */
  get pending() { return this.#queue.length; }

  /**
   * send queues one trail event (DESIGN.md §2 wire shape: action and
   * actor.id required) and resolves with its receipt
   * {id, seq, tenant, leaf_hash, duplicate?} once it is stored.
   * The event's id is set here when absent; the caller's object is not
   * changed.
   * @returns {Promise<object>}
   */
  send(event) {
    if (this.#closed) return Promise.reject(new TrailError('client is closed', { code: 'closed' }));
    if (event === null || typeof event !== 'object' || Array.isArray(event)) {
      return Promise.reject(new TrailError('event: must be an object', { code: 'invalid', field: 'event' }));
    }
    if (typeof event.action !== 'string' || event.action === '') {
      return Promise.reject(new TrailError('action: required', { code: 'invalid', field: 'action' }));
    }
    if (!event.actor || typeof event.actor.id !== 'string' || event.actor.id === '') {
      return Promise.reject(new TrailError('actor.id: required', { code: 'invalid', field: 'actor.id' }));
    }
    if (this.#queue.length >= this.#maxQueue) {
      return Promise.reject(new TrailError(`queue_full: ${this.#maxQueue} events are waiting to be sent`, { code: 'queue_full' }));
    }
    const ev = { ...event };
    if (!ev.id) ev.id = this.#newId();
    if (ev.time instanceof Date) ev.time = ev.time.toISOString();
    return new Promise((resolve, reject) => {
      this.#queue.push({ event: ev, resolve, reject });
      if (this.#queue.length >= this.#batchSize) {
        this.#kick(false);
      } else if (this.#timer === null) {
        this.#timer = setTimeout(() => { this.#timer = null; this.#kick(true); }, this.#flushIntervalMs);
      }
    });
  }

  /**
   * sendAudit queues a Frontegg-style audit record
   * {tenantId, user, resource, action, severity, ip, ...}, mapped by
   * auditToEvent, and resolves with its receipt.
   * @returns {Promise<object>}
   */
  sendAudit(audit) {
    let ev;
    try {
      ev = auditToEvent(audit);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.send(ev);
  }

  /**
   * flush sends everything queued and resolves when no request is in
   * flight. It never rejects: failures reject the send() promises.
   */
  async flush() {
    this.#clearTimer();
    while (this.#queue.length > 0 || this.#sending) {
      await (this.#sending ?? this.#kick(true));
    }
  }

  /** close flushes, then refuses further sends. */
  async close() {
    this.#closed = true;
    await this.flush();
    this.#clearTimer();
  }

  #clearTimer() {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  // #kick starts the sender unless it runs: it sends full batches, and
  // with force also the last partial one.
  #kick(force) {
    if (this.#sending) return this.#sending;
    this.#sending = (async () => {
      try {
        while (this.#queue.length > 0 && (force || this.#closed || this.#queue.length >= this.#batchSize)) {
          if (this.#queue.length <= this.#batchSize) this.#clearTimer();
          const batch = this.#queue.splice(0, this.#batchSize);
          await this.#post(batch);
        }
      } finally {
        this.#sending = null;
        if (this.#queue.length > 0 && this.#timer === null && !this.#closed) {
          this.#timer = setTimeout(() => { this.#timer = null; this.#kick(true); }, this.#flushIntervalMs);
        }
      }
    })();
    return this.#sending;
  }

  // #post sends one batch until it is stored, every item rejected, or the
  // retries are spent. It settles every item's promise and never throws.
  async #post(batch) {
    let items = batch;
    let attempt = 0;
    for (;;) {
      let res;
      let failure;
      try {
        res = await this.#request(items.map((it) => it.event));
      } catch (err) {
        failure = new TrailError(`network: ${err?.message ?? err}`, { code: 'network', cause: err });
      }
      if (res && res.status === 201) {
        let body;
        try {
          body = await res.json();
        } catch (err) {
          failure = new TrailError('the server answered 201 with a body that is not JSON', { code: 'network', status: 201, cause: err });
        }
        if (body) {
          const receipts = body.receipts ?? [];
          items.forEach((it, i) => {
            if (receipts[i]) it.resolve(receipts[i]);
            else it.reject(new TrailError('no receipt for the event', { code: 'internal', status: 201 }));
          });
          return;
        }
      } else if (res) {
        const err = await errorOf(res);
        if (!RETRYABLE.has(res.status)) {
          const m = /^events\[(\d+)\]/.exec(err.field);
          const i = m ? Number(m[1]) : -1;
          if (res.status === 400 && i >= 0 && i < items.length && items.length > 1) {
            items[i].reject(err); // one bad event: the others go again at once
            items = items.filter((_, j) => j !== i);
            continue;
          }
          for (const it of items) it.reject(err);
          return;
        }
        failure = err;
        failure.retryAfterMs = retryAfterMs(res.headers.get('retry-after'));
      }
      if (attempt >= this.#maxRetries) {
        for (const it of items) it.reject(failure);
        return;
      }
      await this.#sleep(this.#backoff(attempt, failure.retryAfterMs));
      attempt++;
    }
  }

  // #backoff is the wait before retry attempt+1: Retry-After when the
  // server gave one, else base·2^attempt with equal jitter, at most
  // retryMaxMs.
  #backoff(attempt, retryAfter) {
    if (retryAfter !== undefined) return Math.min(retryAfter, this.#retryMaxMs);
    const ceil = Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** attempt);
    return ceil / 2 + this.#random() * (ceil / 2);
  }

  async #request(events) {
    const url = this.#server + '/v1/events' + (this.#tenant ? '?tenant=' + encodeURIComponent(this.#tenant) : '');
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    try {
      return await this.#fetch(url, {
        method: 'POST',
        headers: { 'Authorization': 'Bearer ' + this.#key, 'Content-Type': 'application/json' },
        body: JSON.stringify({ events }),
        signal: ctl.signal,
      });
    } finally {
      clearTimeout(t);
    }
  }
}

// errorOf reads trail's error body {"error":{"code","message","field"}}.
async function errorOf(res) {
  let e = {};
  try {
    e = (await res.json())?.error ?? {};
  } catch { /* not JSON: a proxy's page */ }
  return new TrailError(e.message || `HTTP ${res.status}`, { code: e.code || 'http', status: res.status, field: e.field || '' });
}

// retryAfterMs parses Retry-After (seconds or an HTTP date); undefined
// when absent or unreadable.
export function retryAfterMs(h, now = Date.now()) {
  if (h === null || h === undefined || h === '') return undefined;
  if (/^\d+$/.test(h.trim())) return Number(h.trim()) * 1000;
  const at = Date.parse(h);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const SEVERITIES = { info: 'info', low: 'low', medium: 'medium', high: 'high', critical: 'critical', error: 'high' };

// Keys of a Frontegg-style audit that map to trail fields; every other
// key goes into metadata.
const MAPPED = new Set(['tenantId', 'user', 'resource', 'action', 'severity', 'ip', 'userAgent', 'description', 'id', 'time', 'outcome', 'metadata']);

/**
 * auditToEvent maps a Frontegg-style audit record onto trail's event
 * (docs/sdk-js.md has the table):
 *
 *   tenantId  → tenant
 *   user      → actor.id (a string; or {id, name, email, type})
 *   resource  → resource.type (a string; or {type, id, name})
 *   action    → action; text that trail does not allow in an action
 *               ("Updated profile") becomes a slug ("updated_profile") and
 *               the text is kept in metadata.action_text
 *   severity  → severity, case-insensitive: Info, Low, Medium, High,
 *               Critical; Error → severity high and outcome error
 *   ip        → source.ip; userAgent → source.user_agent; origin "sdk"
 *   description → reason
 *   id, time, outcome → the same fields
 *   metadata and every other key → metadata
 *
 * It throws a TrailError (code invalid) naming the field when action or
 * user is missing or severity is unknown.
 */
export function auditToEvent(audit) {
  if (audit === null || typeof audit !== 'object' || Array.isArray(audit)) {
    throw new TrailError('audit: must be an object', { code: 'invalid', field: 'audit' });
  }
  const ev = {};
  const metadata = { ...(audit.metadata ?? {}) };
  if (typeof audit.action !== 'string' || audit.action.trim() === '') {
    throw new TrailError('action: required', { code: 'invalid', field: 'action' });
  }
  const action = audit.action.trim();
  if (/^[A-Za-z0-9._:\/-]+$/.test(action)) {
    ev.action = action;
  } else {
    ev.action = action.toLowerCase().replace(/[^a-z0-9._:\/-]+/g, '_').replace(/^_+|_+$/g, '') || 'audit';
    metadata.action_text = action;
  }
  const u = audit.user;
  if (typeof u === 'string' && u !== '') {
    ev.actor = { id: u, type: 'user' };
    if (/^[^@\s]+@[^@\s]+$/.test(u)) ev.actor.email = u;
  } else if (u && typeof u === 'object' && typeof u.id === 'string' && u.id !== '') {
    ev.actor = { type: 'user', ...u };
  } else {
    throw new TrailError('user: required (a string or {id})', { code: 'invalid', field: 'user' });
  }
  if (audit.tenantId !== undefined && audit.tenantId !== null && audit.tenantId !== '') ev.tenant = String(audit.tenantId);
  if (typeof audit.resource === 'string' && audit.resource !== '') ev.resource = { type: audit.resource };
  else if (audit.resource && typeof audit.resource === 'object') ev.resource = { ...audit.resource };
  if (audit.severity !== undefined && audit.severity !== null && audit.severity !== '') {
    const s = SEVERITIES[String(audit.severity).toLowerCase()];
    if (!s) throw new TrailError(`severity: must be Info, Low, Medium, High, Critical or Error (got ${JSON.stringify(audit.severity)})`, { code: 'invalid', field: 'severity' });
    ev.severity = s;
    if (String(audit.severity).toLowerCase() === 'error') ev.outcome = 'error';
  }
  ev.source = { origin: 'sdk' };
  if (audit.ip) ev.source.ip = String(audit.ip);
  if (audit.userAgent) ev.source.user_agent = String(audit.userAgent);
  if (audit.description) ev.reason = String(audit.description);
  if (audit.id) ev.id = String(audit.id);
  if (audit.time) ev.time = audit.time instanceof Date ? audit.time.toISOString() : String(audit.time);
  if (audit.outcome) ev.outcome = String(audit.outcome);
  for (const [k, v] of Object.entries(audit)) {
    if (!MAPPED.has(k) && v !== undefined) metadata[k] = v;
  }
  if (Object.keys(metadata).length > 0) ev.metadata = metadata;
  return ev;
}
