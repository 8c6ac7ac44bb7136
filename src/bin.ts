#!/usr/bin/env node
// The `typedns` command: package.json's "bin". npm starts it through a symlink (node_modules/.bin,
// a global prefix's bin/, npx's cache), so it does not ask whether it is the main module: it
// always runs the CLI (cli.ts), or says why it cannot and exits 1.
try {
  const cli = await import('./cli.js');
  cli.run(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`typedns: cannot start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
