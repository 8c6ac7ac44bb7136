// "Cut before N ms", told by the order of two timers rather than by the wall clock. A server in
// this process cuts on its own timer (a sweep, a deadline); the test sets a control timer of N ms
// once the server's clock has started (the query read, the connection accepted). Node fires due
// timers in order of their due time however late the process runs, so a cut due before the control
// timer has happened when it fires, even after a stall of seconds on a loaded machine; a cut due
// after it (the behaviour broken: a default of 10 s instead of the 1 s asked) has not. The wall
// clock tells these apart only while the machine keeps up.
// Use: `expect(await before(5000, () => srv.server.tcpConnections() === 0)).toBe(true)`.

/**
 * Resolves true as soon as `cond` holds (checked every `interval` ms), or false when it does not
 * yet hold once a timer of `ms` ms, set now, has fired and the event loop has gone round twice
 * more (so the close callbacks of sockets a timer due earlier destroyed have run). `cond` should
 * read the server's own state (a connection count), which changes without waiting for the peer.
 */
export function before(ms: number, cond: () => boolean, interval = 20): Promise<boolean> {
  return new Promise((resolve) => {
    if (cond()) return resolve(true);
    const poll = setInterval(() => {
      if (!cond()) return;
      clearInterval(poll);
      clearTimeout(control);
      resolve(true);
    }, interval);
    const control = setTimeout(() => {
      clearInterval(poll);
      setImmediate(() => setImmediate(() => resolve(cond())));
    }, ms);
  });
}
