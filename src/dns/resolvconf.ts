// The search path of a resolv.conf (resolv.conf(5)): the last `search` or `domain` line wins,
// names lower-cased and made fully qualified. For autopath's RESOLV-CONF and the kubernetes
// plugin's host search domains.
import { readFileSync } from 'node:fs';

export function resolvConfSearch(text: string): string[] {
  let out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'search' || key === 'domain') {
      out = (key === 'domain' ? rest.slice(0, 1) : rest).map((n) => {
        const l = n.toLowerCase();
        return l.endsWith('.') ? l : `${l}.`;
      });
    }
  }
  return out;
}

/** The search path of /etc/resolv.conf, or [] when it cannot be read. */
export function hostSearchPath(file = '/etc/resolv.conf'): string[] {
  try {
    return resolvConfSearch(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
}
