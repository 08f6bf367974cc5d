// Validates an OpenAPI document with a maintained validator (the OpenAPI
// Initiative's JSON Schemas for 3.0 and 3.1):
// node openapi.mjs FILE. Exits 0 if it is valid OpenAPI 3.1.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";

const doc = JSON.parse(readFileSync(process.argv[2], "utf8"));
const validator = new Validator();
const res = await validator.validate(doc);
if (!res.valid) {
  console.log("INVALID:", JSON.stringify(res.errors, null, 2));
  process.exit(1);
}
if (validator.version !== "3.1") {
  console.log(`not OpenAPI 3.1 but ${validator.version}`);
  process.exit(1);
}
console.log(`valid OpenAPI ${validator.version}`);
