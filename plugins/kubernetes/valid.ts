// What the store accepts from a source (API or manifests): names as Kubernetes validates them and
// IP addresses parsed strictly. The API server enforces these rules, but a manifest file, a proxy,
// an aggregated API or an old object need not: a bad value must not become a wrong answer or a
// malformed packet (a 300-character label, "999.1.2.3" encoded as 231.1.2.3, "10.96.0.1; rm -rf /"
// as 46.0.0.0). Each check returns undefined when the value is fine, else what is wrong with it.
import net from 'node:net';

const LABEL_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const show = (s: string): string => (s.length > 40 ? `'${s.slice(0, 40)}…' (${s.length} characters)` : `'${s}'`);

/** A Service name: an RFC 1035 label (lower case, starts with a letter, at most 63 characters). */
export function badServiceName(s: string): string | undefined {
  if (s.length > 63) return `name ${show(s)} is longer than 63 characters`;
  return LABEL_1035.test(s) ? undefined : `name ${show(s)} is not a DNS label (RFC 1035)`;
}

/** A namespace name, an endpoint hostname: an RFC 1123 label. */
export function badLabel(s: string, what: string): string | undefined {
  if (s.length > 63) return `${what} ${show(s)} is longer than 63 characters`;
  return LABEL_1123.test(s) ? undefined : `${what} ${show(s)} is not a DNS label (RFC 1123)`;
}

/** True for an RFC 1123 label (the checks above, as a predicate for the answer path). */
export const isLabel = (s: string): boolean => s.length <= 63 && LABEL_1123.test(s);

/** An ExternalName target (trailing dot removed): an RFC 1123 subdomain of at most 253 characters. */
export function badHostName(s: string, what: string): string | undefined {
  if (s.length > 253) return `${what} ${show(s)} is longer than 253 characters`;
  for (const l of s.split('.')) if (!isLabel(l)) return `${what} ${show(s)} is not a DNS name (RFC 1123)`;
  return undefined;
}

/** An IP address in strict dotted-quad IPv4 or IPv6 text (no zone index). */
export function badIp(s: string, what: string): string | undefined {
  return net.isIP(s) !== 0 && !s.includes('%') ? undefined : `${what} ${show(s)} is not an IP address`;
}

/**
 * A presentation name (no escapes, trailing dot optional) that fits the wire: labels of 1 to 63
 * octets, at most 255 octets encoded. The last check before a name is put in an answer.
 */
export function fitsWire(name: string): boolean {
  const n = name.endsWith('.') ? name.length - 1 : name.length;
  if (n === 0) return name === '.' || name === '';
  if (n > 253) return false;
  let start = 0;
  for (let i = 0; i <= n; i++) {
    if (i === n || name.charCodeAt(i) === 0x2e) {
      const len = i - start;
      if (len === 0 || len > 63) return false;
      start = i + 1;
    }
  }
  return true;
}
