// Loading the native module (native/udp.c, built by scripts/build-native.mjs into
// build/typedns_udp.node): found from the package's root, loaded only by the Node ABI, platform and
// architecture its build stamp names. Apart from udp-native.ts, which serves UDP with it, so that a
// process that only needs a function of it (the -workers primary releasing pages: trim.ts) does
// not import the server's query path.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What every build of the module has (udp-native.ts types the rest). */
export interface NativeModule {
  readonly layout: object;
  /** Drop the resident pages of read-only private file mappings with no page of their own, then malloc_trim (trim.ts): [mappings, kB]. */
  trimPages?(): Promise<[number, number]>;
}

let loaded: NativeModule | null | undefined;
let loadError = '';

/** The package's root folder: from src/server (tests) or dist/src/server (the built CLI), the one with native/udp.c. */
function packageRoot(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const root = path.resolve(here, up);
    if (existsSync(path.join(root, 'native/udp.c'))) return root;
  }
  return undefined;
}

/** scripts/build-native.mjs of this installation (`typedns build-native` runs it). */
export function nativeBuildScript(): string | undefined {
  const root = packageRoot();
  const p = root === undefined ? undefined : path.join(root, 'scripts/build-native.mjs');
  return p !== undefined && existsSync(p) ? p : undefined;
}

/**
 * What scripts/build-native.mjs records beside the module (build/typedns_udp.json): the Node ABI,
 * platform and architecture it was compiled for. The module uses libuv structures as well as
 * Node-API, so it is loaded only by a Node with the same ABI on the same platform and architecture.
 */
interface NativeStamp {
  node?: string;
  modules?: string;
  platform?: string;
  arch?: string;
}

const target = (s: NativeStamp): string => `Node ABI ${s.modules ?? '?'} ${s.platform ?? '?'}/${s.arch ?? '?'}`;

/** Why the module at `p` (with its stamp) must not be loaded by this Node, or '' when it may. */
function stampMismatch(p: string): string {
  const file = p.replace(/\.node$/, '.json');
  let stamp: NativeStamp;
  try {
    stamp = JSON.parse(readFileSync(file, 'utf8')) as NativeStamp;
  } catch {
    return `build/typedns_udp.node has no readable build stamp (${path.basename(file)}), so not loaded`;
  }
  const here: NativeStamp = { modules: process.versions.modules, platform: process.platform, arch: process.arch };
  if (stamp.modules === here.modules && stamp.platform === here.platform && stamp.arch === here.arch) return '';
  return `build/typedns_udp.node was built for ${target(stamp)}${stamp.node ? ` (Node ${stamp.node})` : ''}, this is ${target(here)} (Node ${process.versions.node})`;
}

/** How to rebuild: in an installed package the bin's subcommand, in a checkout the npm script. */
function rebuildHint(p: string): string {
  return p.split(path.sep).includes('node_modules') ? 'run `npx typedns build-native`' : 'run `npm run build:native`';
}

/**
 * build/typedns_udp.node, loaded once, or undefined (not built, built for another Node or
 * platform, not loadable, or TYPEDNS_NATIVE_UDP=0; nativeModuleError() says why).
 */
export function nativeModule(): NativeModule | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  loaded = null;
  if (process.env.TYPEDNS_NATIVE_UDP === '0') {
    loadError = 'disabled by TYPEDNS_NATIVE_UDP=0';
    return undefined;
  }
  const root = packageRoot();
  const p = root === undefined ? undefined : path.join(root, 'build/typedns_udp.node');
  if (p === undefined || !existsSync(p)) {
    loadError = `build/typedns_udp.node not built; ${rebuildHint(root ?? '')}`;
    return undefined;
  }
  const mismatch = stampMismatch(p);
  if (mismatch !== '') {
    loadError = `${mismatch}; ${rebuildHint(p)}`;
    return undefined;
  }
  try {
    const mod = createRequire(import.meta.url)(p) as Partial<NativeModule>;
    if (typeof mod.layout !== 'object' || mod.layout === null) {
      loadError = `build/typedns_udp.node was built from an older native/udp.c (no layout export); ${rebuildHint(p)}`;
      return undefined;
    }
    loaded = mod as NativeModule;
  } catch (e) {
    loadError = `build/typedns_udp.node did not load: ${(e as Error).message.split('\n')[0]}; ${rebuildHint(p)}`;
  }
  return loaded ?? undefined;
}


/** Why nativeModule() is undefined ('' when it is loaded). */
export const nativeModuleError = (): string => (nativeModule() ? '' : loadError);
