// The Dockerfile: its shape (multi-stage, production install, numeric non-root user, entrypoint)
// and, since CI has no docker, its steps replayed by .ci/dockerfile-steps: pack, install with
// `npm ci --omit=dev` into a temporary directory, and run the CLI from there until SIGTERM.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const root = path.resolve(__dirname, '../..');
const text = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const lines = text.split('\n').filter((l) => !l.trim().startsWith('#'));
const stages = lines.filter((l) => /^FROM\s/i.test(l));
const runtime = lines.slice(lines.indexOf(stages[stages.length - 1]!)).join('\n');

describe('Dockerfile', () => {
  it('builds in one stage and runs from another with production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]).toMatch(/ AS build$/);
    expect(text).toMatch(/npm run build/);
    expect(runtime).toMatch(/npm ci --omit=dev/);
    expect(runtime).toMatch(/COPY --from=build /);
    expect(runtime).not.toMatch(/npm run build|npm install(?! )/);
  });

  it('runs as a numeric non-root user with the CoreDNS entrypoint and ports', () => {
    expect(runtime).toMatch(/^USER 65532:65532$/m);
    expect(runtime).toContain('ENTRYPOINT ["node", "/typedns/dist/src/cli.js"]');
    expect(runtime).toContain('CMD ["-conf", "/etc/coredns/Corefile"]');
    const exposed = /^EXPOSE (.*)$/m.exec(runtime)?.[1]?.split(/\s+/).sort();
    expect(exposed).toEqual(['53', '53/udp', '8080', '8181', '9153']);
    expect(runtime).toMatch(/setcap cap_net_bind_service=\+ep/);
    // the entrypoint is the CLI the package builds (its bin, dist/src/bin.js, runs that same module)
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: { typedns: string } };
    expect(pkg.bin.typedns).toBe('dist/src/bin.js');
    expect(readFileSync(path.join(root, 'src/bin.ts'), 'utf8')).toContain("import('./cli.js')");
  });

  it('its steps work: pack, production install, start, SIGTERM (.ci/dockerfile-steps)', async () => {
    // dist/ was built by vitest's globalSetup; ~6 s (npm ci --omit=dev from the npm cache)
    const r = await promisify(execFile)(path.join(root, '.ci/dockerfile-steps'), ['--no-build'], { cwd: root, timeout: 90_000 });
    expect(r.stdout).toContain('dockerfile-steps: OK');
    expect(r.stdout).toMatch(/^typedns-0\.1\.0$/m);
    expect(r.stdout).toContain('SIGTERM: shutting down');
  }, 100_000);
});
