// proof.js: checks an event's inclusion proof against a signed checkpoint in
// the browser with Web Crypto (RFC 6962 / RFC 9162 §2.1.3.2), and the
// checkpoint's Ed25519 note signature (C2SP signed-note) where supported.

export function b64(s) { return Uint8Array.from(atob(s), (c) => c.charCodeAt(0)); }
function hex(a) { return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join(""); }
function eq(a, b) { return a.length === b.length && a.every((x, i) => x === b[i]); }

async function sha256(...parts) {
  const n = parts.reduce((s, p) => s + p.length, 0), buf = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { buf.set(p, o); o += p.length; }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}
const NODE = new Uint8Array([1]);
export function nodeHash(l, r) { return sha256(NODE, l, r); }

// parseCheckpoint splits a checkpoint note into origin, size, root hash,
// the signed text and its signature lines.
export function parseCheckpoint(note) {
  const i = note.indexOf("\n\n");
  if (i < 0) throw new Error("checkpoint: no signature block");
  const text = note.slice(0, i + 1);
  const lines = text.split("\n");
  if (lines.length < 4) throw new Error("checkpoint: too few lines");
  const size = Number(lines[1]);
  if (!/^\d+$/.test(lines[1])) throw new Error("checkpoint: bad size");
  const root = b64(lines[2]);
  if (root.length !== 32) throw new Error("checkpoint: bad root hash");
  const sigs = note.slice(i + 2).split("\n").filter((l) => l.startsWith("— "));
  return { origin: lines[0], size, root, text, sigs };
}

// rootFromInclusion computes the root from a leaf hash, its index, the tree
// size and the audit path (RFC 9162 §2.1.3.2); it throws if the path has the
// wrong length.
export async function rootFromInclusion(leafHash, index, size, path) {
  if (index < 0 || index >= size) throw new Error(`leaf index ${index} outside tree of size ${size}`);
  let fn = index, sn = size - 1, r = leafHash;
  for (const p of path) {
    if (sn === 0) throw new Error("inclusion proof too long");
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error("inclusion proof too short");
  return r;
}

// verifyNoteSignature checks the checkpoint's signature by the server key
// ("name+hash+base64(0x01‖pubkey)") with Web Crypto Ed25519. It returns
// true, false, or throws when the browser lacks Ed25519.
export async function verifyNoteSignature(cp, verifierKey) {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(verifierKey.trim()); // base64 may hold "+"
  if (!m) throw new Error("verifier key: bad format");
  const [, name, , kb] = m;
  const k = b64(kb);
  if (k.length !== 33 || k[0] !== 1) throw new Error("verifier key: not Ed25519");
  const keyHash = await sha256(new TextEncoder().encode(name), new Uint8Array([0x0a, 0x01]), k.slice(1));
  const key = await crypto.subtle.importKey("raw", k.slice(1), { name: "Ed25519" }, false, ["verify"]);
  for (const line of cp.sigs) {
    const sp = line.slice(2).split(" ");
    if (sp[0] !== name) continue;
    const sig = b64(sp[1]);
    if (sig.length !== 68 || !eq(sig.slice(0, 4), keyHash.slice(0, 4))) continue;
    if (await crypto.subtle.verify({ name: "Ed25519" }, key, sig.slice(4), new TextEncoder().encode(cp.text))) return true;
  }
  return false;
}

// verifyEventProof checks a GET /v1/events/{id}?proof=1 answer: the leaf
// hash's inclusion at event.seq in the checkpoint's tree, and, given the
// verifier key, the checkpoint's signature. It returns
// {ok, size, message, signature: "verified"|"failed"|"unsupported"|"skipped"}.
export async function verifyEventProof(resp, verifierKey) {
  try {
    const cp = parseCheckpoint(resp.checkpoint);
    const inc = resp.inclusion;
    const leaf = b64(resp.event.leaf_hash);
    if (inc.tree_size !== cp.size) throw new Error(`proof is for size ${inc.tree_size}, checkpoint has size ${cp.size}`);
    if (inc.leaf_index !== resp.event.seq) throw new Error(`proof is for leaf ${inc.leaf_index}, event has seq ${resp.event.seq}`);
    const root = await rootFromInclusion(leaf, inc.leaf_index, inc.tree_size, (inc.hashes || []).map(b64));
    if (!eq(root, cp.root)) throw new Error(`root mismatch: computed ${hex(root)}, checkpoint has ${hex(cp.root)}`);
    let signature = "skipped";
    if (verifierKey) {
      try { signature = (await verifyNoteSignature(cp, verifierKey)) ? "verified" : "failed"; }
      catch (e) { signature = e.name === "NotSupportedError" ? "unsupported" : "failed: " + e.message; }
    }
    if (signature.startsWith("failed")) return { ok: false, size: cp.size, signature, message: `checkpoint signature ${signature}` };
    const sigText = signature === "verified" ? ", signature verified" : signature === "unsupported" ? " (this browser cannot check Ed25519 signatures)" : "";
    return { ok: true, size: cp.size, signature, message: `verified against checkpoint size ${cp.size}${sigText}` };
  } catch (e) {
    return { ok: false, size: 0, signature: "skipped", message: "verification failed: " + e.message };
  }
}

// isPow2 reports whether n is an exact power of two (1, 2, 4, …).
function isPow2(n) { return n > 0 && Number.isInteger(Math.log2(n)) && 2 ** Math.log2(n) === n; }

// verifyConsistency checks that the tree of size second with root
// secondRoot extends the tree of size first with root firstRoot, given the
// consistency proof path (RFC 9162 §2.1.4.2). Roots and path entries are
// 32-byte Uint8Arrays. It resolves to nothing when the proof holds and
// throws an Error saying what failed otherwise.
export async function verifyConsistency(first, second, firstRoot, secondRoot, path) {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || first > second) {
    throw new Error(`consistency: sizes ${first} → ${second} are not in order`);
  }
  if (first === second) {
    if (path.length) throw new Error("consistency: proof between equal sizes must be empty");
    if (!eq(firstRoot, secondRoot)) throw new Error(`consistency: two different roots for size ${first}`);
    return;
  }
  if (first === 0) {
    if (path.length) throw new Error("consistency: proof from the empty tree must be empty");
    return;
  }
  if (!path.length) throw new Error("consistency: empty proof");
  const p = isPow2(first) ? [firstRoot, ...path] : path.slice();
  let fn = first - 1, sn = second - 1;
  while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
  let fr = p[0], sr = p[0];
  for (const c of p.slice(1)) {
    if (sn === 0) throw new Error("consistency: proof too long");
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error("consistency: proof too short");
  if (!eq(fr, firstRoot)) throw new Error(`consistency: old root mismatch: computed ${hex(fr)}, expected ${hex(firstRoot)}`);
  if (!eq(sr, secondRoot)) throw new Error(`consistency: new root mismatch: computed ${hex(sr)}, expected ${hex(secondRoot)}`);
}

// checkCheckpoint parses a signed checkpoint note and checks its signature
// with the verifier key. It resolves to {cp, signature} where signature is
// "verified", "unsupported" (no Ed25519 in this browser) or "failed".
export async function checkCheckpoint(note, verifierKey) {
  const cp = parseCheckpoint(note);
  let signature;
  try { signature = (await verifyNoteSignature(cp, verifierKey)) ? "verified" : "failed"; }
  catch (e) { signature = e.name === "NotSupportedError" ? "unsupported" : "failed"; }
  return { cp, signature };
}

export { hex };
