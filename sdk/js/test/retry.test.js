// Retries against a real trail server behind a small proxy that
// misbehaves the way networks and overloaded servers do: it answers 503
// (with and without Retry-After), or forwards a batch and then drops the
// connection before the client sees the answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { TrailClient } from '../src/index.js';
import { server, key, skip, nonce, recordAcked, queryAction } from './helpers.js';

// startProxy runs a proxy to the trail server on 127.0.0.1. plan(n) says
// what to do with the n-th request (0-based): 'forward', 'drop' (forward,
// then close the connection without answering) or a function returning
// {status, headers} to answer with an error instead. It records the body
// of every request.
async function startProxy(plan) {
  const bodies = [];
  const srv = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString();
    const n = bodies.length;
    bodies.push(body);
    const what = plan(n);
    if (typeof what === 'object') {
      res.writeHead(what.status, { 'Content-Type': 'application/json', ...what.headers });
      res.end(JSON.stringify({ error: { code: 'unavailable', message: 'proxy says the server is busy' } }));
      return;
    }
    const up = await fetch(server + req.url, { method: req.method, headers: { Authorization: req.headers.authorization, 'Content-Type': req.headers['content-type'] }, body });
    const text = await up.text();
    if (what === 'drop') {
      req.socket.destroy(); // committed on the server, never acknowledged to the client
      return;
    }
    res.writeHead(up.status, { 'Content-Type': up.headers.get('content-type') ?? 'application/json' });
    res.end(text);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${srv.address().port}`, bodies, close: () => new Promise((r) => srv.close(r)) };
}

const ids = (body) => JSON.parse(body).events.map((e) => e.id);

test('503 twice, then the server: retried with the same ids, Retry-After honoured', { skip }, async () => {
  const action = `jssdk.retry503.${nonce()}`;
  const proxy = await startProxy((n) => (n === 0 ? { status: 503, headers: { 'Retry-After': '1' } } : n === 1 ? { status: 503, headers: {} } : 'forward'));
  const waits = [];
  const c = new TrailClient({
    server: proxy.url, key, batchSize: 5, retryBaseMs: 40, maxRetries: 4,
    sleep: (ms) => { waits.push(ms); return new Promise((r) => setTimeout(r, ms)); },
  });
  const receipts = await Promise.all(Array.from({ length: 5 }, (_, i) => c.send({ action, actor: { id: `u_${i}` } })));
  await c.close();
  await proxy.close();
  recordAcked(receipts);
  assert.equal(proxy.bodies.length, 3);
  assert.deepEqual(ids(proxy.bodies[1]), ids(proxy.bodies[0]));
  assert.deepEqual(ids(proxy.bodies[2]), ids(proxy.bodies[0]));
  assert.equal(waits[0], 1000, 'Retry-After: 1 is a 1000 ms wait');
  assert.ok(waits[1] >= 40 && waits[1] <= 80, `second retry after a 503 without Retry-After: ${waits[1]} ms, want 40..80 (base 40 doubled, equal jitter)`);
  assert.deepEqual(receipts.map((r) => r.id), ids(proxy.bodies[0]));
  assert.equal((await queryAction(action)).length, 5);
});

test('a lost acknowledgement: the retry stores nothing twice and returns the original receipts', { skip }, async () => {
  const action = `jssdk.lostack.${nonce()}`;
  const proxy = await startProxy((n) => (n === 0 ? 'drop' : 'forward'));
  const c = new TrailClient({ server: proxy.url, key, batchSize: 4, retryBaseMs: 10 });
  const receipts = await Promise.all(Array.from({ length: 4 }, (_, i) => c.send({ action, actor: { id: `u_${i}` } })));
  await c.close();
  await proxy.close();
  recordAcked(receipts);
  assert.equal(proxy.bodies.length, 2);
  assert.deepEqual(ids(proxy.bodies[1]), ids(proxy.bodies[0]));
  assert.ok(receipts.every((r) => r.duplicate === true), 'the retry is answered with the original receipts');
  const stored = await queryAction(action);
  assert.equal(stored.length, 4, 'each event stored exactly once');
  assert.deepEqual(stored.map((e) => e.id).sort(), receipts.map((r) => r.id).sort());
});

test('retries run out: every event of the batch is rejected, none is stored', { skip }, async () => {
  const action = `jssdk.gaveup.${nonce()}`;
  const proxy = await startProxy(() => ({ status: 503, headers: { 'Retry-After': '0' } }));
  const c = new TrailClient({ server: proxy.url, key, batchSize: 2, maxRetries: 2 });
  const results = await Promise.allSettled([c.send({ action, actor: { id: 'a' } }), c.send({ action, actor: { id: 'b' } })]);
  await c.close();
  await proxy.close();
  assert.equal(proxy.bodies.length, 3, 'one attempt and two retries');
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    assert.equal(r.reason.code, 'unavailable');
    assert.equal(r.reason.status, 503);
  }
  assert.equal((await queryAction(action)).length, 0);
});
