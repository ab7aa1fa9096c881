#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm run build`; this shim keeps `bin` stable.
import('../dist/cli/main.js').then((m) => m.main(process.argv)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err); process.exitCode = 1; },
);
