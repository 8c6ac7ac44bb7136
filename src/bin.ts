#!/usr/bin/env -S node --max-semi-space-size=1
// The `typedns` command: package.json's "bin". npm starts it through a symlink (node_modules/.bin,
// a global prefix's bin/, npx's cache), so it does not ask whether it is the main module: it
// always runs the CLI (cli.ts), or says why it cannot and exits 1.
//
// The first line gives node the one flag the server sets for itself: a young generation of 1 MB
// semi-spaces instead of up to 16 MB. A DNS server's garbage is short-lived and small (a query's
// objects), so the larger nursery buys no throughput here and costs 14–30 MB of RSS, idle and
// under load (bench/README.md, "Footprint"). It must be given at start: V8 sizes the young
// generation when the isolate is made. It wins over NODE_OPTIONS (node reads those first); to run
// with other flags, start `node <flags> dist/src/cli.js`. (`env -S` splits the line: GNU coreutils
// 8.30+, BSD and macOS.)
try {
  const cli = await import('./cli.js');
  cli.run(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`typedns: cannot start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
