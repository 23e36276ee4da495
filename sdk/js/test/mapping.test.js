// The parts of the SDK that need no server: the Frontegg-style mapping,
// Retry-After parsing and the checks made before anything is sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrailClient, TrailError, auditToEvent, retryAfterMs, uuidV4 } from '../src/index.js';

test('auditToEvent maps the Frontegg-style shape onto trail fields', () => {
  const ev = auditToEvent({
    tenantId: 'acme', user: 'ada@example.com', resource: 'Portal', action: 'Updated profile',
    severity: 'Medium', ip: '203.0.113.7', description: 'changed display name', plan: 'pro', seats: 12,
  });
  assert.deepEqual(ev, {
    tenant: 'acme',
    action: 'updated_profile',
    actor: { id: 'ada@example.com', type: 'user', email: 'ada@example.com' },
    resource: { type: 'Portal' },
    severity: 'medium',
    source: { origin: 'sdk', ip: '203.0.113.7' },
    reason: 'changed display name',
    metadata: { action_text: 'Updated profile', plan: 'pro', seats: 12 },
  });
});

test('auditToEvent keeps valid actions and objects as they are', () => {
  const ev = auditToEvent({ user: { id: 'svc-1', type: 'service' }, resource: { type: 'route', id: 'r_9' }, action: 'route.update', severity: 'critical', time: new Date('2026-11-22T10:00:00Z'), metadata: { a: 1 } });
  assert.equal(ev.action, 'route.update');
  assert.deepEqual(ev.actor, { id: 'svc-1', type: 'service' });
  assert.deepEqual(ev.resource, { type: 'route', id: 'r_9' });
  assert.equal(ev.severity, 'critical');
  assert.equal(ev.time, '2026-11-22T10:00:00.000Z');
  assert.deepEqual(ev.metadata, { a: 1 });
  assert.equal(ev.tenant, undefined);
});

test('auditToEvent: severity Error is high severity with outcome error', () => {
  const ev = auditToEvent({ user: 'u', action: 'job.run', severity: 'Error' });
  assert.equal(ev.severity, 'high');
  assert.equal(ev.outcome, 'error');
});

test('auditToEvent refuses what trail would refuse, naming the field', () => {
  for (const [audit, field] of [
    [{ action: 'x' }, 'user'],
    [{ user: 'u' }, 'action'],
    [{ user: 'u', action: '   ' }, 'action'],
    [{ user: 'u', action: 'x', severity: 'Severe' }, 'severity'],
    [null, 'audit'],
  ]) {
    assert.throws(() => auditToEvent(audit), (err) => err instanceof TrailError && err.code === 'invalid' && err.field === field, JSON.stringify(audit));
  }
});

test('retryAfterMs reads seconds and HTTP dates', () => {
  assert.equal(retryAfterMs('2'), 2000);
  assert.equal(retryAfterMs(' 0 '), 0);
  assert.equal(retryAfterMs(null), undefined);
  assert.equal(retryAfterMs('soon'), undefined);
  const now = Date.parse('2026-11-22T10:00:00Z');
  assert.equal(retryAfterMs('Sun, 22 Nov 2026 10:00:03 GMT', now), 3000);
  assert.equal(retryAfterMs('Sun, 22 Nov 2026 09:00:00 GMT', now), 0);
});

test('the client checks its options', () => {
  for (const [opts, field] of [
    [{ key: 'k' }, 'server'],
    [{ server: 'ftp://x', key: 'k' }, 'server'],
    [{ server: 'http://127.0.0.1:1' }, 'key'],
    [{ server: 'http://127.0.0.1:1', key: 'k', batchSize: 0 }, 'batchSize'],
    [{ server: 'http://127.0.0.1:1', key: 'k', batchSize: 10001 }, 'batchSize'],
    [{ server: 'http://127.0.0.1:1', key: 'k', maxRetries: -1 }, 'maxRetries'],
  ]) {
    assert.throws(() => new TrailClient(opts), (err) => err.code === 'config' && err.field === field, JSON.stringify(opts));
  }
});

test('send refuses an event without action or actor.id before sending anything', async () => {
  const c = new TrailClient({ server: 'http://127.0.0.1:1', key: 'k' });
  await assert.rejects(c.send({ actor: { id: 'u' } }), { code: 'invalid', field: 'action' });
  await assert.rejects(c.send({ action: 'a' }), { code: 'invalid', field: 'actor.id' });
  await assert.rejects(c.send('x'), { code: 'invalid', field: 'event' });
  await assert.rejects(c.sendAudit({ action: 'a' }), { code: 'invalid', field: 'user' });
  assert.equal(c.pending, 0);
  await c.close();
  await assert.rejects(c.send({ action: 'a', actor: { id: 'u' } }), { code: 'closed' });
});

test('send refuses when maxQueue events wait (back-pressure)', async () => {
  const c = new TrailClient({ server: 'http://127.0.0.1:1', key: 'k', maxQueue: 2, flushIntervalMs: 60000, batchSize: 100, maxRetries: 0 });
  const first = [c.send({ action: 'a', actor: { id: 'u' } }), c.send({ action: 'a', actor: { id: 'u' } })];
  await assert.rejects(c.send({ action: 'a', actor: { id: 'u' } }), { code: 'queue_full' });
  assert.equal(c.pending, 2);
  // Nothing listens on port 1: with no retries the two queued events are
  // rejected as a network failure, not lost silently.
  const closing = new TrailClient({ server: 'http://127.0.0.1:1', key: 'k', maxRetries: 0 });
  const p = closing.send({ action: 'a', actor: { id: 'u' } });
  await closing.close();
  await assert.rejects(p, { code: 'network' });
  await c.close();
  for (const r of await Promise.allSettled(first)) assert.equal(r.reason?.code, 'network');
});

test('uuidV4 sets the version and variant bits', () => {
  assert.equal(uuidV4(new Uint8Array(16).fill(0xff)), 'ffffffff-ffff-4fff-bfff-ffffffffffff');
  assert.equal(uuidV4(new Uint8Array(16)), '00000000-0000-4000-8000-000000000000');
});
