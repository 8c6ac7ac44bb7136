// The seam through which another plugin of the block sends dnstap messages of its own: forward
// finds the block's dnstap plugin with ctx.plugins() and isDnstap(), and reports each attempt to an
// upstream (CoreDNS's forward does the same with FORWARDER_QUERY and FORWARDER_RESPONSE).
import type { Plugin, Request } from '../../src/plugin/api.js';

/** One query sent to an upstream, and its reply when one came. */
export interface Forwarded {
  /** The upstream's address and port. */
  readonly host: string;
  readonly port: number;
  /** The transport the query went over (tls:// upstreams: 'tcp'). */
  readonly proto: 'udp' | 'tcp';
  /** The query as sent (wire bytes). */
  readonly query: Uint8Array;
  /** When it was sent (performance.now() milliseconds). */
  readonly start: number;
  /** The upstream's reply, or undefined when none came (timeout, network error). */
  readonly reply: Uint8Array | undefined;
}

export interface ForwarderTap {
  /** Queue FORWARDER_QUERY (and FORWARDER_RESPONSE when there is a reply); never waits. */
  forwarded(req: Request, f: Forwarded): void;
}

/** The dnstap plugin as the other plugins of its block see it. */
export interface DnstapPlugin extends Plugin {
  readonly tap: ForwarderTap;
}

export const isDnstap = (p: Plugin): p is DnstapPlugin => typeof (p as Partial<DnstapPlugin>).tap?.forwarded === 'function';
