import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { schemaValidator } from "../../src/config/schema.js";
import { BUILTIN_ROLES, PRIVILEGES } from "../../src/core/pve.js";
import { root } from "../helpers/config.js";

type S = Record<string, any>;
const schema = JSON.parse(readFileSync(`${root}schemas/homelab.schema.json`, "utf8")) as S;

/** Every object schema reachable in the file, with a JSON-pointer-ish label. */
function objectSchemas(node: unknown, at = "#", out: [string, S][] = []): [string, S][] {
  if (Array.isArray(node)) node.forEach((n, i) => objectSchemas(n, `${at}/${i}`, out));
  else if (node && typeof node === "object") {
    const s = node as S;
    if (s.type === "object" && s.properties) out.push([at, s]);
    for (const [k, v] of Object.entries(s)) objectSchemas(v, `${at}/${k}`, out);
  }
  return out;
}

describe("schemas/homelab.schema.json", () => {
  it("is JSON Schema 2020-12 with an $id and compiles in strict mode", () => {
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(schema.$id).toMatch(/^https:\/\/.+homelab\.schema\.json$/);
    expect(typeof schemaValidator()).toBe("function");
  });

  it("closes every object and describes every property", () => {
    const objects = objectSchemas(schema);
    expect(objects.length).toBeGreaterThan(15);
    const undescribed: string[] = [];
    for (const [at, s] of objects) {
      // Keyed maps (realms: pam/pve plus any realm id) constrain their keys with propertyNames instead.
      if (s.propertyNames) expect(typeof s.additionalProperties, `${at} must constrain its values`).toBe("object");
      else expect(s.additionalProperties, `${at} must set additionalProperties: false`).toBe(false);
      for (const [name, p] of Object.entries<S>(s.properties)) {
        const described = typeof p.description === "string" && p.description.length > 5;
        // A property that is only a $ref may take its description from the definition.
        const viaRef = typeof p.$ref === "string" && typeof schema.$defs[p.$ref.split("/").pop()!]?.description === "string";
        if (!described && !viaRef) undescribed.push(`${at}/properties/${name}`);
      }
    }
    expect(undescribed).toEqual([]);
  });

  it("lists exactly the 47 privileges of the access API section 4.3", () => {
    expect(PRIVILEGES).toHaveLength(47);
    expect([...schema.$defs.privilege.enum].sort()).toEqual([...PRIVILEGES].sort());
  });

  it("names the 17 built-in roles of section 4.4", () => {
    expect(Object.keys(BUILTIN_ROLES)).toHaveLength(17);
    for (const role of Object.keys(BUILTIN_ROLES)) expect(schema.$defs.roleId.description).toContain(role);
    expect(BUILTIN_ROLES.PVEAdmin).toHaveLength(40);
    expect(BUILTIN_ROLES.PVEVMAdmin).toHaveLength(23);
  });

  const aclPath = new RegExp(schema.$defs.aclPath.pattern, "u");
  it.each([
    "/", "/access", "/access/groups", "/access/groups/admins", "/access/realm", "/access/realm/azure", "/nodes", "/nodes/pve1",
    "/pool", "/pool/media", "/pool/a/b/c", "/storage", "/storage/local-lvm", "/vms", "/vms/100", "/vms/123456",
    "/sdn", "/sdn/zones", "/sdn/zones/z1", "/sdn/zones/z1/v1", "/sdn/zones/z1/v1/4094", "/sdn/controllers/c_1",
    "/sdn/dns/d1", "/sdn/ipams/pve", "/sdn/fabrics/f1", "/sdn/prefix-lists/p1", "/sdn/route-maps/r1",
    "/mapping", "/mapping/pci", "/mapping/pci/gpu0", "/mapping/usb/x", "/mapping/dir/x",
  ])("accepts the ACL path %s", (p) => expect(aclPath.test(p)).toBe(true));
  it.each([
    "", "vms", "/vms/", "/vms/99", "/vms/0100", "/vm/100", "/access/realms/x", "/pool/a/b/c/d", "/sdn/zones/z/v/0",
    "/sdn/zones/z/v/12345", "/storage/a b", "//", "/nodes/pve1/qemu", "/mapping/a/b/c", "/sdn/dns/a-b",
  ])("refuses the ACL path %j", (p) => expect(aclPath.test(p)).toBe(false));
});

describe("the validator compiled at build time", () => {
  it("reports exactly what the runtime-compiled one reports", async () => {
    const { existsSync } = await import("node:fs");
    const file = `${root}dist/config/homelab-schema.validate.js`;
    expect(existsSync(file), "run `npm run build` first (npm test does)").toBe(true);
    const pre = (await import(file)).default as (d: unknown) => boolean & { errors?: unknown[] };
    const { Ajv2020 } = await import("ajv/dist/2020.js");
    const { ajvOptions, addAnnotationKeywords } = await import("../../src/config/schema-options.js");
    const ajv = new Ajv2020({ ...ajvOptions });
    addAnnotationKeywords(ajv);
    const runtime = ajv.compile(schema);
    const { parse } = await import("yaml");
    const { playbook } = await import("../helpers/config.js");
    const docs: unknown[] = [parse(playbook("homelab.yaml")), parse(playbook("larger.yaml")), {}, [], "x", { version: 2, realms: { a: { tenant: 1, issuerUrl: "x" }, pve: { type: "pam" } }, access: [{ user: "x", group: "y", role: "PVEx", path: "/vm" }] }];
    const shape = (errs: any) => (errs ?? []).map((e: any) => `${e.instancePath} ${e.schemaPath} ${e.keyword}`).sort();
    for (const d of docs) {
      const a = pre(d);
      const b = runtime(d);
      expect(a).toBe(b);
      expect(shape((pre as any).errors)).toEqual(shape(runtime.errors));
    }
  });
});
