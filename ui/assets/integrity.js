// integrity.js: the tenant's latest signed checkpoint (signature checked
// here with the note verifier key), the checkpoints this browser has seen
// (kept in localStorage per tenant, or pasted from a receipt or bundle), a
// consistency check between any two of them verified here (RFC 9162
// §2.1.4.2), a verify action, and how to verify an export offline.
import { apiFetch, apiJSON, query, AuthError } from "./api.js";
import { h, fill, fmtTime, showError } from "./dom.js";
import { b64, hex, checkCheckpoint, verifyConsistency } from "./proof.js";
import { getVerifierKey } from "./detail.js";

const KEEP = 100;

function storeKey(ctx) { return "trail.checkpoints." + (ctx.tenant() || ctx.session.tenant || "default"); }

// loadSeen returns the remembered checkpoints, smallest size first.
export function loadSeen(key) {
  try { return JSON.parse(localStorage.getItem(key) || "[]"); } catch { return []; }
}

// remember adds a checked checkpoint ({size, root, note, signature}) to the
// list, one per size; a second, different root for a known size is kept
// too and reported by the caller as a fork.
function remember(key, c) {
  const list = loadSeen(key);
  if (!list.some((x) => x.size === c.size && x.root === c.root)) list.push({ ...c, seen: new Date().toISOString() });
  list.sort((a, b) => a.size - b.size);
  localStorage.setItem(key, JSON.stringify(list.slice(-KEEP)));
  return list;
}

export function mount(ctx) {
  const key = storeKey(ctx);
  const t = { tenant: ctx.tenant() };
  let alive = true;
  const err = h("p", { class: "error", role: "alert", id: "integrity-error" });
  const latest = h("dl", { class: "kv", id: "latest-checkpoint" });
  const verifyResult = h("div", { id: "verify-result", role: "status" });
  const seenBody = h("tbody");
  const fromSel = h("select", { id: "consistency-from", name: "from", "aria-label": "From size" });
  const toSel = h("select", { id: "consistency-to", name: "to", "aria-label": "To size" });
  const consResult = h("p", { id: "consistency-result", role: "status" });
  const paste = h("textarea", { id: "paste-checkpoint", rows: 5, spellcheck: "false", placeholder: "dashboard.test/acme\n42\nbase64 root…\n\n— dashboard.test …" });
  const pasteResult = h("p", { role: "status", id: "paste-result" });
  const fail = (el) => (e) => { if (alive && !(e instanceof AuthError)) showError(el, e); };

  ctx.el.append(h("div", { class: "integrity-page" },
    h("h2", {}, "Integrity"), err,
    h("div", { class: "grid2" },
      h("section", { class: "card" }, h("h3", {}, "Latest checkpoint"), latest,
        h("p", {}, h("button", { type: "button", class: "primary", id: "verify", onclick: () => verifyNow().catch(fail(err)) }, "Verify now")),
        verifyResult,
        h("p", { class: "hint" }, "Verify now fetches the latest checkpoint, checks its Ed25519 signature with the server's public verifier key, and checks in this browser that it is consistent with every earlier checkpoint seen here: the log was only appended to.")),
      h("section", { class: "card" }, h("h3", {}, "Consistency between two checkpoints"),
        h("p", {}, h("label", {}, "From size ", fromSel), " ", h("label", {}, "to size ", toSel), " ",
          h("button", { type: "button", id: "consistency-check", onclick: () => checkPair().catch(fail(consResult)) }, "Check consistency")),
        consResult,
        h("details", {}, h("summary", {}, "Add a checkpoint from a receipt or a bundle"),
          paste, h("p", {}, h("button", { type: "button", id: "paste-add", onclick: () => addPasted().catch(fail(pasteResult)) }, "Check and add")), pasteResult))),
    h("section", { class: "card" }, h("h3", {}, "Checkpoints seen in this browser"),
      h("div", { class: "table-wrap" }, h("table", { id: "checkpoints" },
        h("thead", {}, h("tr", {}, ["Size", "Root hash", "Signature", "Seen"].map((c) => h("th", { scope: "col" }, c)))), seenBody))),
    h("section", { class: "card", id: "offline" }, h("h3", {}, "Verify an export offline"),
      h("p", {}, "A verifiable bundle (Export → Verifiable bundle on the events page, or the command line) holds the events, the signed checkpoint, an inclusion proof for every event and the verifier key. Check it on any machine without trusting this server:"),
      h("pre", {}, `trail export --server ${location.origin} --key "$TRAIL_KEY" --format bundle${t.tenant ? " --tenant " + t.tenant : ""} > export.zip
trail verify --bundle export.zip`),
      h("p", { class: "hint" }, "trail verify recomputes each event's leaf hash from its exported line (SHA-256 of 0x00 and the line), checks every inclusion proof against the checkpoint's root, and the checkpoint's signature against the key; any RFC 6962 verifier can do the same. Compare the checkpoint's root with one you recorded earlier (or check consistency here) to know the log was not rewritten in between."))));

  function renderSeen() {
    const list = loadSeen(key);
    seenBody.replaceChildren(...list.slice().reverse().map((c) => h("tr", { dataset: { size: String(c.size) } },
      h("td", {}, String(c.size)), h("td", { class: "mono" }, c.root), h("td", { class: c.signature === "failed" ? "error" : "ok" }, c.signature), h("td", {}, fmtTime(c.seen)))));
    const opts = (sel, pick) => {
      const prev = sel.value;
      sel.replaceChildren(...list.map((c) => h("option", { value: `${c.size}:${c.root}` }, String(c.size))));
      sel.value = list.some((c) => `${c.size}:${c.root}` === prev) ? prev : pick(list);
    };
    opts(fromSel, (l) => (l.length ? `${l[0].size}:${l[0].root}` : ""));
    opts(toSel, (l) => (l.length ? `${l[l.length - 1].size}:${l[l.length - 1].root}` : ""));
  }

  async function check(note) {
    const { cp, signature } = await checkCheckpoint(note, await getVerifierKey());
    return { cp, entry: { size: cp.size, root: btoa(String.fromCharCode(...cp.root)), note, signature, origin: cp.origin } };
  }

  async function fetchLatest() {
    const note = await (await apiFetch("/v1/log/checkpoint" + query(t))).text();
    const { cp, entry } = await check(note);
    if (!alive) return null;
    fill(latest,
      h("dt", {}, "Origin"), h("dd", {}, cp.origin),
      h("dt", {}, "Size"), h("dd", { id: "latest-size" }, String(cp.size)),
      h("dt", {}, "Root (base64)"), h("dd", { class: "mono" }, entry.root),
      h("dt", {}, "Root (hex)"), h("dd", { class: "mono" }, hex(cp.root)),
      h("dt", {}, "Signature"), h("dd", { id: "latest-signature", class: entry.signature === "failed" ? "error" : "ok" },
        entry.signature === "verified" ? "✓ verified with the server's verifier key" : entry.signature === "unsupported" ? "not checked: this browser lacks Ed25519" : "✗ signature does not verify"),
      h("dt", {}, "Fetched"), h("dd", {}, fmtTime(new Date().toISOString())));
    if (entry.signature !== "failed") remember(key, entry);
    renderSeen();
    return entry;
  }

  async function consistent(a, b) {
    const proof = await apiJSON("/v1/log/proof/consistency" + query({ ...t, from: a.size, to: b.size }));
    await verifyConsistency(a.size, b.size, b64(a.root), b64(b.root), (proof.hashes || []).map(b64));
  }

  // verifyNow checks the latest checkpoint and its consistency with every
  // earlier one remembered here.
  async function verifyNow() {
    verifyResult.className = "";
    verifyResult.textContent = "Verifying…";
    const head = await fetchLatest();
    if (!head) return;
    const lines = [], bad = [];
    if (head.signature === "failed") bad.push(`the checkpoint of size ${head.size} has a bad signature`);
    for (const c of loadSeen(key)) {
      if (c.size > head.size || (c.size === head.size && c.root === head.root)) continue;
      try { await consistent(c, head); lines.push(c.size); }
      catch (e) { if (e instanceof AuthError) return; bad.push(`size ${c.size}: ${e.message}`); }
    }
    if (!alive) return;
    verifyResult.className = bad.length ? "proof bad" : "proof ok";
    fill(verifyResult, bad.length
      ? ["✗ Verification failed: ", h("ul", {}, bad.map((b) => h("li", {}, b)))]
      : `✓ verified: checkpoint size ${head.size} ${head.signature === "verified" ? "signature verified" : "(signature not checked)"}; consistent with ${lines.length} earlier checkpoint${lines.length === 1 ? "" : "s"} seen here${lines.length ? " (sizes " + lines.join(", ") + ")" : ""}.`);
  }

  async function checkPair() {
    const list = loadSeen(key);
    const find = (v) => list.find((c) => `${c.size}:${c.root}` === v);
    let a = find(fromSel.value), b = find(toSel.value);
    if (!a || !b) { consResult.textContent = "Pick two checkpoints."; return; }
    if (a.size > b.size) [a, b] = [b, a];
    consResult.className = "";
    consResult.textContent = "Checking…";
    try {
      await consistent(a, b);
      consResult.className = "proof ok";
      consResult.textContent = `✓ consistent: the tree of size ${b.size} extends the tree of size ${a.size}.`;
    } catch (e) {
      if (e instanceof AuthError) return;
      consResult.className = "proof bad";
      consResult.textContent = `✗ not consistent: ${e.message}`;
    }
  }

  async function addPasted() {
    const { entry } = await check(paste.value.trim() + "\n");
    if (entry.signature === "failed") { pasteResult.className = "proof bad"; pasteResult.textContent = "✗ the signature does not verify with this server's key; not added."; return; }
    remember(key, entry);
    renderSeen();
    pasteResult.className = "proof ok";
    pasteResult.textContent = `✓ added the checkpoint of size ${entry.size}.`;
  }

  renderSeen();
  fetchLatest().catch(fail(err));
  return { update: () => true, unmount() { alive = false; } };
}
