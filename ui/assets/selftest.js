// selftest.js: drives the real dashboard in this page and writes what it saw
// into <pre id="selftest-results"> as JSON, for the headless-Chromium test
// (ui/browser_test.go). Open /ui/selftest.html#key=<api key>; the key must
// be able to read, ingest and export in one tenant (e.g. an admin key).
// It ingests one event of its own (action "selftest.tail").
import * as app from "./app.js";
import { getKey } from "./api.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(f, what, ms = 5000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(25)) if (f()) return;
  throw new Error("timed out waiting for " + what);
}
const $ = (s) => document.querySelector(s);
const rows = () => [...document.querySelectorAll("#results tbody tr")];
const actions = () => rows().map((r) => r.cells[1].textContent);

async function run() {
  const key = new URLSearchParams(location.hash.slice(1)).get("key") || "";
  history.replaceState(null, "", location.pathname); // keep the key out of the DOM and history
  const shell = new DOMParser().parseFromString(await (await fetch("/")).text(), "text/html");
  document.body.replaceWith(document.adoptNode(shell.body));
  const out = {};

  // A bad key lands on sign-in with the server's message.
  sessionStorage.setItem("trail.key", "trl_not_a_key");
  app.start();
  await until(() => !$("#signin").hidden && $("#signin-message").textContent, "sign-in after 401");
  out.unauthorized = { signin: !$("#signin").hidden, message: $("#signin-message").textContent, keyCleared: getKey() === "" };

  // Sign in through the form.
  app.setPageSize(2);
  $("#key").value = key;
  $("#signin-form").requestSubmit();
  await until(() => rows().length > 0, "events after sign-in");
  out.signedIn = { keyInSession: getKey() === key, firstPage: rows().length, more: !$("#more").hidden };
  $("#more").click();
  await until(() => rows().length > 2, "load more");
  out.afterMore = rows().length;

  // Filter with the query language.
  app.setPageSize(100);
  $("#filters").q.value = "action:user.login";
  $("#filters").requestSubmit();
  await until(() => rows().length > 0 && actions().every((a) => a === "user.login"), "filtered rows");
  await sleep(100);
  out.filtered = actions();

  // Live tail receives an event ingested now.
  $("#filters").q.value = "";
  $("#filters").requestSubmit();
  await until(() => !actions().includes("") && actions().some((a) => a !== "user.login"), "unfiltered rows");
  $("#live").click();
  await sleep(300);
  await app.apiFetch("/v1/events", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ action: "selftest.tail", actor: { id: "u_selftest" }, outcome: "success" }) });
  await until(() => actions()[0] === "selftest.tail", "live-tailed event");
  out.tail = { first: actions()[0], live: $("#live").checked };
  app.stopTail();

  // Event detail: the proof is checked here, in the browser.
  rows()[rows().length - 1].click();
  await until(() => /proof (ok|bad)/.test($("#proof").className), "proof result");
  out.detail = { ok: $("#proof").classList.contains("ok"), message: $("#proof").textContent, json: $("#detail-json").textContent.includes('"leaf_hash"') };
  // A tampered leaf hash must fail.
  const { verifyEventProof } = await import("./proof.js");
  const id = rows()[0].dataset.id;
  const resp = await (await app.apiFetch(`/v1/events/${id}?proof=1`)).json();
  resp.event.leaf_hash = btoa(String.fromCharCode(...new Uint8Array(32)));
  out.tampered = await verifyEventProof(resp, "");

  // Exports download with the key.
  const text = async (f) => (await app.exportAs(f)).text();
  out.ndjsonLines = (await text("ndjson")).trim().split("\n").length;
  out.csvHeader = (await text("csv")).split("\n")[0];
  const zip = new Uint8Array(await (await app.exportAs("bundle")).arrayBuffer());
  out.bundleMagic = String.fromCharCode(zip[0], zip[1]);

  // Sign-out clears the key.
  $("#signout").click();
  out.signedOut = { signin: !$("#signin").hidden, keyCleared: sessionStorage.getItem("trail.key") === null, message: $("#signin-message").textContent };
  return out;
}

run().then(
  (out) => report({ ok: true, ...out }),
  (err) => report({ ok: false, error: String(err && err.stack || err) }),
);

function report(o) {
  const pre = document.createElement("pre");
  pre.id = "selftest-results";
  pre.textContent = JSON.stringify(o);
  document.body.append(pre);
}
