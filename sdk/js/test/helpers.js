// Shared by the tests that talk to a real trail server. They run when
// TRAIL_SERVER and TRAIL_KEY (a writer key) are set, as
// cmd/trail/jssdk_test.go does; TRAIL_READ_KEY (a viewer key of the same
// tenant) lets them read events back, and TRAIL_SDK_ACKED names a file
// where every acknowledged event id is appended, one per line, so that the
// Go test can check that each arrived exactly once.
import { appendFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';

export const server = process.env.TRAIL_SERVER ?? '';
export const key = process.env.TRAIL_KEY ?? '';
export const readKey = process.env.TRAIL_READ_KEY ?? '';
export const tenant = process.env.TRAIL_TENANT ?? '';

/** skip is the reason to skip a server test, or false. */
export const skip = server && key && readKey
  ? false
  : 'set TRAIL_SERVER, TRAIL_KEY (writer) and TRAIL_READ_KEY (viewer) to run against a real trail server (cmd/trail/jssdk_test.go does)';

/** nonce makes the actions of one test run unique. */
export const nonce = () => randomUUID().slice(0, 8);

/** recordAcked appends acknowledged ids to $TRAIL_SDK_ACKED. */
export function recordAcked(receipts) {
  const file = process.env.TRAIL_SDK_ACKED;
  if (file && receipts.length > 0) appendFileSync(file, receipts.map((r) => r.id).join('\n') + '\n');
}

/** getEvent reads one event by id with the viewer key; null when 404. */
export async function getEvent(id) {
  const res = await fetch(`${server}/v1/events/${encodeURIComponent(id)}`, { headers: { Authorization: `Bearer ${readKey}` } });
  if (res.status === 404) return null;
  if (res.status !== 200) throw new Error(`GET /v1/events/${id}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** queryAction returns every event whose action is exactly action. */
export async function queryAction(action) {
  const res = await fetch(`${server}/v1/events?limit=1000&order=asc&action=${encodeURIComponent(action)}`, { headers: { Authorization: `Bearer ${readKey}` } });
  if (res.status !== 200) throw new Error(`GET /v1/events: ${res.status} ${await res.text()}`);
  return (await res.json()).events;
}
