// Validate an AsyncAPI document with the official parser (@asyncapi/parser).
//
//   node tests/js/asyncapi_check.mjs path/to/asyncapi.json
//
// Prints ONE JSON line: {"errors": [...], "warnings": [...]} (each {code, message, path}); exits 1 when
// the parser reports an error or produced no document. tests/e2e/test_typed_clients.py runs it.
import { readFileSync } from "node:fs";

import { Parser } from "@asyncapi/parser";

const ERROR = 0; // DiagnosticSeverity.Error
const WARNING = 1;

const source = readFileSync(process.argv[2], "utf8");
const { document, diagnostics } = await new Parser().parse(source);
const shape = (d) => ({ code: d.code, message: d.message, path: d.path.join("/") });
const errors = diagnostics.filter((d) => d.severity === ERROR).map(shape);
const warnings = diagnostics.filter((d) => d.severity === WARNING).map(shape);
console.log(JSON.stringify({ errors, warnings, parsed: document !== undefined }));
process.exit(errors.length || document === undefined ? 1 : 0);
