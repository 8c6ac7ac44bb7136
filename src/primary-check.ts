// The child process in which the primary of -workers N checks the Corefile before it forks the
// workers (cli.ts runAsPrimary; its arguments are the CLI's): it sends the error lines (none: the
// workers would start) and exits, and what it imported to check — every plugin the Corefile
// names, the compiler — goes with it.
import { startErrors } from './cli.js';

const errors = await startErrors(process.argv.slice(2)).catch((e: unknown) => [e instanceof Error ? e.message : String(e)]);
process.send!(errors, () => process.exit(0));
