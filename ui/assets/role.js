// role.js: what the signed-in key's role may do, so pages hide what it
// cannot do. The server stays the authority: a hidden button is a
// convenience, and a forced navigation still gets the server's 403.
import { currentSession, AuthError } from "./api.js";

// PERMS mirrors auth.Role.Allows (auth/role.go).
export const PERMS = {
  operator: ["events.ingest", "events.read", "events.export", "log.verify", "keys.manage", "tenants.manage", "settings.manage"],
  admin: ["events.ingest", "events.read", "events.export", "log.verify", "keys.manage", "settings.manage"],
  auditor: ["events.read", "events.export", "log.verify"],
  viewer: ["events.read"],
  writer: ["events.ingest"],
};

// Session is who is signed in: role, tenant ("*" for all tenants) and name.
export class Session {
  constructor(role, tenant = "", name = "") { this.role = role; this.tenant = tenant; this.name = name; }
  can(perm) { return (PERMS[this.role] || []).includes(perm); }
  get allTenants() { return this.tenant === "*" || this.role === "operator"; }
}

// loadSession returns the signed-in Session from GET /v1/session; it
// throws AuthError when there is none.
export async function loadSession() {
  const s = await currentSession();
  if (!s) throw new AuthError("Sign in to continue.");
  return new Session(s.role, s.tenant || "", s.name || "");
}
