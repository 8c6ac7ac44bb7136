// Periodic work of plugins (reloading a file, walking a directory): a tick that finds the last run
// still going (a slow disk, a large file) is skipped, not stacked.

/**
 * Run `task` every `ms` milliseconds, never two runs at once. The interval is unref'd (it keeps no
 * process alive); stop it with clearInterval. The task catches and logs its own errors.
 */
export function everyUnlessBusy(ms: number, task: () => Promise<unknown>): NodeJS.Timeout {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void task().finally(() => (busy = false));
  }, ms);
  timer.unref();
  return timer;
}
