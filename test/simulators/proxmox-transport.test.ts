import { describe, it, expect, beforeAll, afterAll, beforeEach } from "vitest";
import { connect } from "node:tls";
import { startProxmoxSim, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { RawClient } from "../../src/sim/proxmox/raw-client.js";

let sim: ProxmoxSim;
let c: RawClient;
beforeAll(async () => {
  sim = await startProxmoxSim({ unauthorizedDelayMs: 0, seed: 7 });
  c = new RawClient(sim.url, sim.certPem, { token: sim.adminToken });
});
afterAll(async () => {
  c.close();
  await sim.close();
});
beforeEach(() => sim.setFaults(undefined));

describe("envelope and error shapes (spec 1.4, 1.5)", () => {
  it("wraps success in {data} with 200 and the JSON content type", async () => {
    const r = await c.post("/access/groups", { groupid: "env1" });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json;charset=UTF-8");
    expect(r.text).toBe('{"data":null}');
  });

  it("500 with message and reason phrase for handler errors, never 404", async () => {
    const r = await c.get("/access/groups/nope");
    expect(r.status).toBe(500);
    expect(r.statusMessage).toBe("group 'nope' does not exist");
    expect(r.json).toEqual({ data: null, message: "group 'nope' does not exist\n" });
  });

  it("400 with errors map and 'Parameter verification failed.'", async () => {
    const r = await c.post("/access/groups", { groupid: "a:b" });
    expect(r.status).toBe(400);
    expect(r.statusMessage).toBe("Parameter verification failed.");
    expect(r.json).toEqual({
      data: null,
      message: "Parameter verification failed.\n",
      errors: { groupid: "invalid format - group name 'a:b' contains invalid characters\n" },
    });
  });

  it("501 for unknown paths and methods", async () => {
    const r = await c.get("/access/foo");
    expect(r.status).toBe(501);
    expect(r.json.message).toBe("Method 'GET /access/foo' not implemented\n");
    const d = await c.delete("/access/users");
    expect(d.status).toBe(501);
    expect(d.json.message).toBe("Method 'DELETE /access/users' not implemented\n");
    const p = await c.send({ method: "PATCH", path: "/access/users" });
    expect(p.status).toBe(501);
  });

  it("501 for a body on GET or DELETE", async () => {
    const r = await c.send({ method: "GET", path: "/access/users", body: { contentType: "application/x-www-form-urlencoded", data: "full=1" } });
    expect(r.status).toBe(501);
    expect(r.json.message).toBe("Unexpected content for method 'GET'\n");
    const d = await c.send({ method: "DELETE", path: "/access/groups/env1", form: { x: 1 } });
    expect(d.status).toBe(501);
    expect(d.json.message).toBe("Unexpected content for method 'DELETE'\n");
  });

  it("506 for other content types; charset suffix on JSON is fine", async () => {
    const r = await c.send({ method: "POST", path: "/access/groups", body: { contentType: "text/plain", data: "groupid=x" } });
    expect(r.status).toBe(506);
    expect(r.json.message).toBe("upload 'Content-Type 'text/plain' not implemented\n");
    const ok = await c.send({
      method: "POST",
      path: "/access/groups",
      body: { contentType: "application/json; charset=utf-8", data: '{"groupid":"json-charset"}' },
    });
    expect(ok.status).toBe(200);
  });

  it("malformed or empty JSON is a plain-text 500 (errata 15)", async () => {
    const r = await c.send({ method: "POST", path: "/access/groups", body: { contentType: "application/json", data: "{bad" } });
    expect(r.status).toBe(500);
    expect(r.headers["content-type"]).toMatch(/^text\/plain/);
    expect(r.text).toMatch(/^malformed JSON string/);
    const e = await c.send({ method: "POST", path: "/access/groups", body: { contentType: "application/json", data: "" } });
    expect(e.status).toBe(500);
    expect(e.text).toMatch(/^malformed JSON string/);
  });
});

describe("request bodies and parameter merging (spec 1.2, 1.3, errata 9)", () => {
  it("form bodies without a content type are form-encoded", async () => {
    const r = await c.send({ method: "POST", path: "/access/groups", body: { data: "groupid=noct&comment=x" } });
    expect(r.status).toBe(200);
    expect((await c.get("/access/groups/noct")).json.data.comment).toBe("x");
  });

  it("';' separates pairs and a value is cut at a second raw '='", async () => {
    const r = await c.send({ method: "POST", path: "/access/groups", form: "groupid=semi;comment=a=b" });
    expect(r.status).toBe(200);
    expect((await c.get("/access/groups/semi")).json.data.comment).toBe("a");
    await c.send({ method: "PUT", path: "/access/groups/semi", form: `comment=${encodeURIComponent("a=b;c&d+e")}` });
    expect((await c.get("/access/groups/semi")).json.data.comment).toBe("a=b;c&d+e");
    await c.send({ method: "PUT", path: "/access/groups/semi", form: "comment=two+words" });
    expect((await c.get("/access/groups/semi")).json.data.comment).toBe("two words");
  });

  it("query parameters are merged and win over the body; _dc is dropped", async () => {
    const r = await c.send({ method: "POST", path: "/access/groups", query: { comment: "from-query", _dc: 123 }, form: { groupid: "qwin", comment: "from-body" } });
    expect(r.status).toBe(200);
    expect((await c.get("/access/groups/qwin", { _dc: 99 })).json.data.comment).toBe("from-query");
  });

  it("a body parameter conflicting with a path parameter is a 400", async () => {
    const r = await c.put("/access/groups/qwin", { groupid: "other", comment: "x" });
    expect(r.status).toBe(400);
    expect(r.json.errors).toEqual({ groupid: "duplicate parameter (already defined in URI) with conflicting values!" });
    const same = await c.put("/access/groups/qwin", { groupid: "qwin", comment: "same" });
    expect(same.status).toBe(200);
  });

  it("path parameters are percent-decoded", async () => {
    await c.post("/access/users", { userid: "pct@pve" });
    const r = await c.get(`/access/users/${encodeURIComponent("pct@pve")}`);
    expect(r.status).toBe(200);
    const raw = await c.get("/access/users/pct@pve");
    expect(raw.status).toBe(200);
  });
});

describe("request log", () => {
  it("records method, path without query, and status", async () => {
    sim.clearLog();
    expect(sim.requestLog).toEqual([]);
    await c.get("/access/users", { full: 1 });
    await c.get("/access/groups/does-not-exist");
    await c.send({ method: "GET", path: "/access/users", auth: "none" });
    expect(sim.requestLog).toEqual([
      { method: "GET", path: "/api2/json/access/users", status: 200 },
      { method: "GET", path: "/api2/json/access/groups/does-not-exist", status: 500 },
      { method: "GET", path: "/api2/json/access/users", status: 401 },
    ]);
    sim.clearLog();
    expect(sim.requestLog.length).toBe(0);
  });
});

describe("fault injection", () => {
  it("rate 1 with a single kind always injects it, without touching state", async () => {
    sim.setFaults({ rate: 1, kinds: ["503"] });
    const r = await c.post("/access/groups", { groupid: "faulty" });
    expect(r.status).toBe(503);
    expect(r.text).toBe("");
    sim.setFaults({ rate: 1, kinds: ["502"] });
    expect((await c.get("/access/users")).status).toBe(502);
    sim.setFaults({ rate: 1, kinds: ["500"] });
    const five = await c.get("/access/users");
    expect(five.status).toBe(500);
    expect(five.json.message).toBe("simulated fault\n");
    sim.setFaults(undefined);
    expect(sim.state().groups.some((g) => g.groupid === "faulty")).toBe(false);
  });

  it("reset destroys the connection and logs status 0", async () => {
    sim.setFaults({ rate: 1, kinds: ["reset"] });
    sim.clearLog();
    await expect(c.send({ method: "GET", path: "/access/users", headers: { Connection: "close" } })).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(sim.requestLog).toEqual([{ method: "GET", path: "/api2/json/access/users", status: 0 }]);
  });

  it("slow delays the answer", async () => {
    sim.setFaults({ rate: 1, kinds: ["slow"], slowMs: 150 });
    const t0 = Date.now();
    const r = await c.get("/access/roles");
    expect(r.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it("methods filter limits faults to the listed methods", async () => {
    sim.setFaults({ rate: 1, kinds: ["503"], methods: ["PUT"] });
    expect((await c.get("/access/roles")).status).toBe(200);
    expect((await c.put("/access/groups/qwin", { comment: "y" })).status).toBe(503);
  });

  it("a share of requests fails, deterministically from the seed", async () => {
    const run = async (): Promise<number[]> => {
      const s = await startProxmoxSim({ unauthorizedDelayMs: 0, seed: 42, faults: { rate: 0.3, kinds: ["500", "503"] } });
      const k = new RawClient(s.url, s.certPem, { token: s.adminToken });
      const statuses: number[] = [];
      for (let i = 0; i < 60; i++) statuses.push((await k.get("/access/roles")).status);
      k.close();
      await s.close();
      return statuses;
    };
    const a = await run();
    const b = await run();
    expect(a).toEqual(b);
    const failed = a.filter((s) => s !== 200).length;
    expect(failed).toBeGreaterThan(8);
    expect(failed).toBeLessThan(32);
    expect(a.filter((s) => s === 500).length).toBeGreaterThan(0);
    expect(a.filter((s) => s === 503).length).toBeGreaterThan(0);
  });
});

describe("transport misc", () => {
  it("only /api2/json is served", async () => {
    const r = await c.send({ method: "GET", path: "/api2/extjs/access/users" });
    expect(r.status).toBe(501);
  });

  it("speaks TLS with the published certificate", async () => {
    const port = Number(new URL(sim.url).port);
    const fp = await new Promise<string>((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port, ca: sim.certPem, servername: undefined }, () => {
        resolve(s.getPeerCertificate().fingerprint256);
        s.end();
      });
      s.on("error", reject);
    });
    expect(fp).toBe(sim.fingerprint);
  });
});
