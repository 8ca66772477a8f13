import type { Ajv2020 } from "ajv/dist/2020.js";

/** ajv settings shared by the runtime compile (src/config/schema.ts) and the build-time one (scripts/after-build.mjs). */
export const ajvOptions = { allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, unicodeRegExp: true } as const;

/** Our annotations: a hint shown with errors, and a marker that a value is a secret (never echoed). */
export function addAnnotationKeywords(ajv: Ajv2020): void {
  ajv.addKeyword({ keyword: "x-hint", schemaType: "string" });
  ajv.addKeyword({ keyword: "x-sensitive", schemaType: "boolean" });
}
