import { describe, expect, it } from "vitest";
import { permissionsOf } from "../../src/providers/proxmox/client.js";

describe("permissionsOf (GET /access/permissions, converted in place)", () => {
  it("makes every value a boolean as Proxmox means it (1/0, strings, booleans)", () => {
    const answer = JSON.parse('{"/":{"Sys.Audit":1,"VM.Audit":0,"Pool.Audit":"1","Sys.Modify":"0","User.Modify":true,"Datastore.Audit":false,"VM.Console":"off","VM.Backup":null},"/vms/100":{"VM.PowerMgmt":1}}');
    expect(permissionsOf(answer)).toEqual({
      "/": { "Sys.Audit": true, "VM.Audit": false, "Pool.Audit": true, "Sys.Modify": false, "User.Modify": true, "Datastore.Audit": false, "VM.Console": false, "VM.Backup": false },
      "/vms/100": { "VM.PowerMgmt": true },
    });
  });

  it("a path whose value is not an object holds nothing; no answer is no paths", () => {
    expect(permissionsOf(JSON.parse('{"/a":null,"/b":[1],"/c":"x","/d":{"Sys.Audit":1}}'))).toEqual({ "/a": {}, "/b": {}, "/c": {}, "/d": { "Sys.Audit": true } });
    expect(permissionsOf(null)).toEqual({});
    expect(permissionsOf([])).toEqual({});
  });

  it("a path named __proto__ stays an ordinary path (no prototype is changed)", () => {
    const out = permissionsOf(JSON.parse('{"__proto__":{"Sys.Audit":1},"/":{"Sys.Audit":1}}'));
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out).sort()).toEqual(["/", "__proto__"]);
    expect(Object.getOwnPropertyDescriptor(out, "__proto__")?.value).toEqual({ "Sys.Audit": true });
  });
});
