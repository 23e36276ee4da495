// signin.js: the sign-in page (an API key, or the configured OIDC issuer)
// and sign-out. The key is posted once to POST /v1/session and then
// cleared from the form; the session lives in an HttpOnly cookie.
import { signIn, signOut, sessionConfig, AuthError } from "./api.js";

const $ = (sel) => document.querySelector(sel);

// initSignIn wires the sign-in form: a successful sign-in calls
// onSignedIn(session). It also shows "Sign in with <name>" when the server
// has OIDC configured.
export function initSignIn(onSignedIn) {
  const form = $("#signin-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $("#key");
    const key = input.value;
    input.value = ""; // the key is not kept in the page
    const msg = $("#signin-message");
    msg.textContent = "";
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      onSignedIn(await signIn(key));
    } catch (err) {
      msg.textContent = err instanceof AuthError ? err.message : "Sign-in failed: " + err.message;
      input.focus();
    } finally {
      if (button) button.disabled = false;
    }
  });
  showOIDC();
}

async function showOIDC() {
  let cfg;
  try { cfg = await sessionConfig(); } catch { return; }
  const link = $("#signin-oidc");
  if (!link || !cfg.oidc) return;
  link.textContent = "Sign in with " + (cfg.oidc_name || "OIDC");
  link.hidden = false;
}

// signOutAndThen ends the session on the server, then calls then().
export function signOutAndThen(then) {
  signOut().catch(() => {}).finally(then);
}
