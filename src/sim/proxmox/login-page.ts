/**
 * `GET /` of the simulator: a stand-in for the Proxmox GUI's OpenID login, so that a person can try the sign-in of
 * `homelab sim` in a browser. A real node serves its web interface here; its login window lists the realms
 * (`GET /access/domains`, readable by anyone), starts an OpenID login with `POST /access/openid/auth-url` with the
 * page's origin as redirect URL, and, when the identity provider sends the browser back with `code` and `state`,
 * finishes it with `POST /access/openid/login` and keeps the ticket in the `PVEAuthCookie` cookie. This page does
 * the same with the same API calls, then shows the user id and `GET /access/permissions?path=/`.
 *
 * The script is plain browser JavaScript, run by test/simulators/proxmox-login-page.test.ts against a minimal
 * stand-in for `document`, `location`, `history` and `fetch`.
 */

/** The page's script: the body of an async function of (document, location, history, fetch). */
export const LOGIN_SCRIPT = `
const out = document.getElementById("out");
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
const show = (html) => { out.innerHTML = html; };
const api = async (path, init) => {
  const r = await fetch("/api2/json" + path, init || {});
  let body = {};
  try { body = await r.json(); } catch (e) { body = {}; }
  return { status: r.status, body: body || {} };
};
const form = (o) => ({ method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(o).toString() });
const q = new URLSearchParams(location.search);
const origin = location.origin;
if (q.get("error")) {
  history.replaceState(null, "", "/");
  show('<p class="err">The identity provider answered ' + esc(q.get("error")) + ": " + esc((q.get("error_description") || "").split(/\\r?\\n/)[0]) + '</p><p><a href="/">Back</a></p>');
  return;
}
if (q.get("code") && q.get("state")) {
  history.replaceState(null, "", "/");
  const login = await api("/access/openid/login", form({ code: q.get("code"), state: q.get("state"), "redirect-url": origin }));
  if (login.status !== 200) {
    show('<p class="err">Login failed: ' + esc(login.body.message || "HTTP " + login.status) + '</p><p>Proxmox tells the reason only in its log (the simulator\\'s syslog).</p><p><a href="/">Back</a></p>');
    return;
  }
  const d = login.body.data;
  document.cookie = "PVEAuthCookie=" + encodeURIComponent(d.ticket) + "; path=/; secure; samesite=strict";
  const perms = await api("/access/permissions?path=" + encodeURIComponent("/"));
  const privs = Object.keys(((perms.body && perms.body.data) || {})["/"] || {}).sort();
  show('<p id="user">Signed in as <b>' + esc(d.username) + '</b>.</p><p id="privs">Privileges on /: ' + (privs.length ? esc(privs.join(", ")) : "none") + '</p><p><a href="/">Sign in again</a></p>');
  return;
}
const domains = await api("/access/domains");
const realms = ((domains.body && domains.body.data) || []).filter((r) => r.type === "openid").sort((a, b) => (a.realm < b.realm ? -1 : 1));
if (realms.length === 0) {
  show("<p>No OpenID realm yet: converge a homelab.yaml with a realm against this simulator (homelab apply), then reload this page.</p>");
  return;
}
show(realms.map((r) => '<p><button data-realm="' + esc(r.realm) + '">Sign in with realm ' + esc(r.realm) + (r.comment ? " (" + esc(r.comment) + ")" : "") + "</button></p>").join("") + '<p id="error" class="err"></p>');
for (const b of out.querySelectorAll("button")) {
  b.onclick = async () => {
    const r = await api("/access/openid/auth-url", form({ realm: b.dataset.realm, "redirect-url": origin }));
    if (r.status === 200) location.href = r.body.data;
    else out.querySelector("#error").textContent = "POST /access/openid/auth-url: " + (r.body.message || "HTTP " + r.status);
  };
}
`;

export function loginPageHtml(): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/><title>Proxmox VE simulator: sign in</title><style>body{font-family:sans-serif;max-width:640px;margin:10vh auto;padding:0 16px}.err{color:#b00}button{padding:6px 16px}</style></head><body><h1>Proxmox VE simulator</h1><p>A stand-in for the Proxmox web interface's OpenID login (homelab simulator).</p><div id="out">Loading...</div><script>(async (document, location, history, fetch) => {${LOGIN_SCRIPT}})(document, location, history, fetch.bind(window));</script></body></html>`;
}
