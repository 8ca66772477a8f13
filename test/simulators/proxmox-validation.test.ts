import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startProxmoxSim, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { RawClient, type RawResponse } from "../../src/sim/proxmox/raw-client.js";

let sim: ProxmoxSim;
let c: RawClient;
/** root@pam ticket: skips permission checks, so parameter validation answers (errata 3) */
let rt: RawClient;
beforeAll(async () => {
  sim = await startProxmoxSim({
    unauthorizedDelayMs: 0,
    fixture: { users: [{ userid: "val@pve" }], groups: [{ groupid: "vg" }] },
  });
  c = new RawClient(sim.url, sim.certPem, { token: sim.adminToken });
  const login = await c.withAuth("none").post("/access/ticket", { username: "root@pam", password: "homelab-sim" });
  rt = c.withAuth({ ticket: login.json.data.ticket, csrf: login.json.data.CSRFPreventionToken });
});
afterAll(async () => {
  c.close();
  await sim.close();
});

function expect400(r: RawResponse, errors: Record<string, string>): void {
  expect(r.status).toBe(400);
  expect(r.json.message).toBe("Parameter verification failed.\n");
  expect(r.json.errors).toEqual(errors);
}

const NOT_DEFINED = "property is not defined in schema and the schema does not allow additional properties";

describe("unknown and missing parameters", () => {
  it("unknown parameters are refused, on POST and on GET", async () => {
    expect400(await c.post("/access/groups", { groupid: "x1", color: "red" }), { color: NOT_DEFINED });
    expect400(await c.get("/access/groups", { foo: 1 }), { foo: NOT_DEFINED });
    expect400(await c.put("/access/users/val@pve", { password: "12345678" }), { password: NOT_DEFINED });
  });

  it("missing required parameters", async () => {
    expect400(await c.post("/access/groups", {}), { groupid: "property is missing and it is not optional" });
    expect400(await c.put("/access/acl", { path: "/" }), {
      roles: "property is missing and it is not optional",
    });
  });

  it("all errors of one call are reported together", async () => {
    const r = await rt.post("/access/users", { userid: "x", enable: "yes", bogus: 1 });
    expect400(r, {
      userid: "invalid format - user name 'x' is too short\n",
      enable: "type check ('boolean') failed - got 'yes'",
      bogus: NOT_DEFINED,
    });
  });

  it("a property required by another one (append → groups, privs)", async () => {
    expect400(await c.put("/access/users/val@pve", { append: 1 }), { groups: "missing property required by 'append'" });
    await c.post("/access/roles", { roleid: "ReqRole" });
    expect400(await c.put("/access/roles/ReqRole", { append: 1 }), { privs: "missing property required by 'append'" });
  });
});

describe("booleans and integers (spec 1.3)", () => {
  it("form booleans: 0/1 only; 'true', 'yes', 'on' are refused", async () => {
    for (const v of ["true", "yes", "on", "2", ""]) {
      expect400(await c.put("/access/users/val@pve", { enable: v }), { enable: `type check ('boolean') failed - got '${v}'` });
    }
    expect((await c.put("/access/users/val@pve", { enable: 0 })).status).toBe(200);
    expect((await c.get("/access/users/val@pve")).json.data.enable).toBe(0);
    expect((await c.put("/access/users/val@pve", { enable: 1 })).status).toBe(200);
  });

  it("JSON booleans: true/false, 1/0 and '1'/'0'", async () => {
    const put = (enable: unknown) => c.send({ method: "PUT", path: "/access/users/val@pve", json: { enable } });
    expect((await put(false)).status).toBe(200);
    expect((await c.get("/access/users/val@pve")).json.data.enable).toBe(0);
    expect((await put(true)).status).toBe(200);
    expect((await c.get("/access/users/val@pve")).json.data.enable).toBe(1);
    expect((await put("0")).status).toBe(200);
    expect((await put(1)).status).toBe(200);
    expect400(await put("true"), { enable: "type check ('boolean') failed - got 'true'" });
  });

  it("integers: decimal strings or JSON integers, with minimum", async () => {
    expect400(await c.put("/access/users/val@pve", { expire: "x" }), { expire: "type check ('integer') failed - got 'x'" });
    expect400(await c.put("/access/users/val@pve", { expire: -1 }), { expire: "value must have a minimum value of 0" });
    expect400(await c.send({ method: "PUT", path: "/access/users/val@pve", json: { expire: 1.5 } }), {
      expire: "type check ('integer') failed - got '1.5'",
    });
    expect((await c.send({ method: "PUT", path: "/access/users/val@pve", json: { expire: 4102444800 } })).status).toBe(200);
    expect((await c.get("/access/users/val@pve")).json.data.expire).toBe(4102444800);
    await c.put("/access/users/val@pve", { expire: 0 });
  });

  it("JSON null counts as not sent for users", async () => {
    const r = await c.send({ method: "PUT", path: "/access/users/val@pve", json: { comment: null, firstname: "N" } });
    expect(r.status).toBe(200);
    expect((await c.get("/access/users/val@pve")).json.data.firstname).toBe("N");
  });

  it("arrays and objects for plain string parameters fail the type check", async () => {
    expect400(await c.send({ method: "PUT", path: "/access/groups/vg", json: { comment: ["a"] } }), {
      comment: "type check ('string') failed - got ARRAY",
    });
  });
});

describe("identifier formats (spec 4.1)", () => {
  it("user ids", async () => {
    const cases: Array<[string, string]> = [
      ["foo", "invalid format - value 'foo' does not look like a valid user name\n"],
      ["ab", "invalid format - user name 'ab' is too short\n"],
      [`${"a".repeat(66)}@pve`, `invalid format - user name '${"a".repeat(66)}@pve' is too long (70 > 64)\n`],
      ["a b@pve", "invalid format - value 'a b@pve' does not look like a valid user name\n"],
      ["a:b@pve", "invalid format - value 'a:b@pve' does not look like a valid user name\n"],
      ["a/b@pve", "invalid format - value 'a/b@pve' does not look like a valid user name\n"],
      ["ab@1realm", "invalid format - value 'ab@1realm' does not look like a valid user name\n"],
    ];
    for (const [userid, msg] of cases) expect400(await rt.post("/access/users", { userid }), { userid: msg });
    // a token runs the permission check first, which verifies the userid itself: raw 500 (errata 3)
    const viaToken = await c.post("/access/users", { userid: "foo" });
    expect(viaToken.status).toBe(500);
    expect(viaToken.json.message).toBe("value 'foo' does not look like a valid user name\n");
    const viaToken2 = await c.get("/access/users/ab");
    expect(viaToken2.status).toBe(500);
    expect(viaToken2.json.message).toBe("user name 'ab' is too short\n");
    // the name part may contain "@": the realm is after the last one
    expect((await c.post("/access/users", { userid: "jane@example.com@oidc" })).status).toBe(200);
    expect((await c.get("/access/users/jane@example.com@oidc")).status).toBe(200);
  });

  it("realms, groups, roles, privileges, token ids", async () => {
    expect400(await c.post("/access/domains", { realm: "1abc", type: "openid" }), {
      realm: "invalid format - value does not look like a valid realm\n",
    });
    expect400(await c.post("/access/domains", { realm: `r${"a".repeat(32)}`, type: "openid" }), {
      realm: "value may only be 32 characters long",
    });
    expect400(await c.post("/access/domains", { realm: "rx", type: "foo" }), {
      type: "value 'foo' does not have a value in the enumeration 'ad, ldap, openid, pam, pve'",
    });
    expect400(await c.post("/access/groups", { groupid: "a(b)" }), {
      groupid: "invalid format - group name 'a(b)' contains invalid characters\n",
    });
    expect400(await c.post("/access/roles", { roleid: "a:b" }), {
      roleid: "invalid format - role name 'a:b' contains invalid characters\n",
    });
    expect400(await c.post("/access/roles", { roleid: "Foo", privs: "VM.Audit,VM.Foo" }), {
      privs: "invalid format - invalid privilege 'VM.Foo'\n",
    });
    // VM.Monitor is gone in PVE 9 (spec 4.3)
    expect400(await c.post("/access/roles", { roleid: "Foo", privs: "VM.Monitor" }), {
      privs: "invalid format - invalid privilege 'VM.Monitor'\n",
    });
    for (const t of ["1abc", "a", "a b"]) {
      expect400(await c.post(`/access/users/val@pve/token/${encodeURIComponent(t)}`), { tokenid: "value does not match the regex pattern" });
    }
    expect400(await c.put("/access/acl", { path: "/", roles: "NoAccess", tokens: "val@pve" }), {
      tokens: "invalid format - value 'val@pve' does not look like a valid token ID\n",
    });
  });

  it("email, lengths and anchored patterns", async () => {
    expect400(await c.put("/access/users/val@pve", { email: "not-an-email" }), {
      email: "invalid format - value does not look like a valid email address\n",
    });
    expect((await c.put("/access/users/val@pve", { email: "" })).status).toBe(200);
    expect((await c.put("/access/users/val@pve", { email: "first.last+tag@mail.example.org" })).status).toBe(200);
    expect400(await c.put("/access/users/val@pve", { firstname: "x".repeat(1025) }), { firstname: "value may only be 1024 characters long" });
    expect400(await c.put("/access/users/val@pve", { comment: "x".repeat(2049) }), { comment: "value may only be 2048 characters long" });
    expect400(await c.put("/access/users/val@pve", { email: `${"x".repeat(251)}@a.b` }), { email: "value may only be 254 characters long" });
    // `keys` pattern is anchored (spec 4)
    expect400(await c.put("/access/users/val@pve", { keys: "abc def" }), { keys: "value does not match the regex pattern" });
    expect((await c.put("/access/users/val@pve", { keys: "x!oath" })).status).toBe(200);
    expect400(await c.post("/access/users", { userid: "pw@pve", password: "short" }), {
      password: "value must be at least 8 characters long",
    });
  });

  it("realm option patterns: groups-claim, acr-values, audiences; property strings (errata 7)", async () => {
    const base = { realm: "pat", type: "openid", "issuer-url": "https://idp", "client-id": "c" };
    expect400(await c.post("/access/domains", { ...base, "groups-claim": "a b" }), { "groups-claim": "value does not match the regex pattern" });
    expect400(await c.post("/access/domains", { ...base, "acr-values": "a<b" }), { "acr-values": "value does not match the regex pattern" });
    expect400(await c.post("/access/domains", { ...base, audiences: "a b" }), { audiences: "value does not match the regex pattern" });
    expect400(await c.post("/access/domains", { ...base, tfa: "type=oath,foo=1" }), {
      tfa: "invalid format - format error\ntfa.foo: property is not defined in schema and the schema does not allow additional properties\n",
    });
    expect400(await c.post("/access/domains", { ...base, delete: "x" }), { delete: NOT_DEFINED });
    expect((await c.post("/access/domains", { ...base, audiences: "aud1,aud2", "acr-values": "urn:x" })).status).toBe(200);
    expect400(await c.put("/access/domains/pat", { delete: "1x" }), { delete: "invalid format - invalid configuration ID '1x'\n" });
  });
});

describe("list parameters (spec 1.3)", () => {
  it("split on commas, semicolons and whitespace runs", async () => {
    expect((await c.post("/access/roles", { roleid: "Split", privs: "VM.Audit;VM.Console  Sys.Audit,,Datastore.Audit" })).status).toBe(200);
    expect((await c.get("/access/roles/Split")).json.data).toEqual({
      "VM.Audit": 1,
      "VM.Console": 1,
      "Sys.Audit": 1,
      "Datastore.Audit": 1,
    });
  });

  it("NUL splits only on NUL", async () => {
    await c.post("/access/groups", { groupid: "n1" });
    await c.post("/access/groups", { groupid: "n2" });
    const r = await c.put("/access/users/val@pve", { groups: "n1\0n2" });
    expect(r.status).toBe(200);
    expect((await c.get("/access/users/val@pve")).json.data.groups).toEqual(["n1", "n2"]);
  });

  it("JSON arrays and repeated form keys are joined with ',' for -list parameters", async () => {
    const j = await c.send({ method: "POST", path: "/access/roles", json: { roleid: "Arr", privs: ["VM.Audit", "Sys.Audit"] } });
    expect(j.status).toBe(200);
    expect(Object.keys((await c.get("/access/roles/Arr")).json.data).sort()).toEqual(["Sys.Audit", "VM.Audit"]);
    const f = await c.send({ method: "POST", path: "/access/roles", form: "roleid=Rep&privs=VM.Audit&privs=Pool.Audit" });
    expect(f.status).toBe(200);
    expect(Object.keys((await c.get("/access/roles/Rep")).json.data).sort()).toEqual(["Pool.Audit", "VM.Audit"]);
  });
});
