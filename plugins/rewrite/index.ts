// rewrite: changes the question (name, type, class, EDNS0 options) before the plugins below see it,
// and maps their reply back (answer auto/name/value, ttl, rcode, cname). The plugin is defined in
// setup.ts (parse + setup); its handler is rewrite.ts, one file per rule kind beside them.
export { default, type RewriteConfig } from './setup.js';
