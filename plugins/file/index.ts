// file: serves authoritative zones from RFC 1035 master files (CoreDNS's file plugin).
import { definePlugin } from '../../src/plugin/api.js';
import { buildZone, createFile } from './file.js';
import { ZoneStore } from './store.js';
import { parseFile, type FileConfig } from './setup.js';

export default definePlugin<FileConfig>({
  name: 'file',
  api: '^1',
  parse: parseFile,
  setup(cfg, ctx) {
    // One store per process: a Corefile reload takes the zones whose files did not change.
    return createFile(cfg, ctx.root, ctx.log, ctx.lookup, ctx.process.shared('file/zones', () => new ZoneStore(buildZone)));
  },
});
