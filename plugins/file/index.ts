// file: serves authoritative zones from RFC 1035 master files (CoreDNS's file plugin).
import { definePlugin } from '../../src/plugin/api.js';
import { createFile } from './file.js';
import { parseFile, type FileConfig } from './setup.js';

export default definePlugin<FileConfig>({
  name: 'file',
  api: '^1',
  parse: parseFile,
  setup(cfg, ctx) {
    return createFile(cfg, ctx.root, ctx.log, ctx.lookup);
  },
});
