// typedns's own object source: Kubernetes objects in YAML (or JSON) files — one file, or every
// *.yaml/*.yml/*.json file under a folder — multi-document, `kind: List` accepted. Services,
// EndpointSlices, Pods and Namespaces are cut to slim records by watch/convert.ts; other kinds are
// ignored. Namespaces that objects use but no file declares are created implicitly (as a cluster
// always has them). The path is watched (fs.watch, plus a stat poll as a fallback); on a change
// everything is re-read and applied as full lists; a file that fails to parse keeps the last good data.
import fs from 'node:fs';
import path from 'node:path';
import { Composer, LineCounter, Parser } from 'yaml';
import type { Logger } from '../../src/plugin/api.js';
import type { ObjectSink, ObjectSource, SlimEndpointSlice, SlimNamespace, SlimPod, SlimService } from './watch/objects.js';
import { convertNamespace, convertPod, convertService, convertSlice } from './watch/convert.js';
import { selectorMatches, type Selector } from './selector.js';

export interface ManifestOptions {
  /** `labels`: only Services, EndpointSlices and Pods matching this selector. */
  labels?: Selector;
  /** Poll interval in ms (default 1000). */
  pollMs?: number;
  log?: Logger;
}

export interface ManifestObjects {
  services: SlimService[];
  slices: SlimEndpointSlice[];
  pods: SlimPod[];
  namespaces: SlimNamespace[];
}

const EXT = /\.(ya?ml|json)$/i;

/** The files a manifests path stands for, sorted. Throws if the path does not exist. */
export function manifestFiles(p: string): string[] {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return [p];
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      if (ent.name.startsWith('.')) continue;
      const full = path.join(dir, ent.name);
      if (ent.isDirectory()) walk(full);
      else if (EXT.test(ent.name)) out.push(full);
    }
  };
  walk(p);
  return out.sort();
}

/** Read and convert every object under `p`. Throws "file:line: message" on a YAML error. */
export function readManifests(p: string, labels?: Selector): ManifestObjects {
  const out: ManifestObjects = { services: [], slices: [], pods: [], namespaces: [] };
  const declared = new Set<string>();
  const used = new Set<string>(['default']);
  const add = (o: unknown): void => {
    if (o === null || typeof o !== 'object') return;
    const obj = o as { kind?: unknown; items?: unknown; metadata?: { namespace?: unknown; labels?: Record<string, string> } };
    if (obj.kind === 'List' || (typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items))) {
      for (const it of (obj.items as unknown[]) ?? []) add(it);
      return;
    }
    const kind = obj.kind;
    if (kind !== 'Namespace' && obj.metadata && typeof obj.metadata === 'object' && (obj.metadata.namespace === undefined || obj.metadata.namespace === '')) {
      obj.metadata.namespace = 'default';
    }
    const selected = labels === undefined || selectorMatches(labels, obj.metadata?.labels);
    switch (kind) {
      case 'Service': {
        const s = selected ? convertService(o) : undefined;
        if (s) (out.services.push(s), used.add(s.namespace));
        break;
      }
      case 'EndpointSlice': {
        const s = selected ? convertSlice(o) : undefined;
        if (s) (out.slices.push(s), used.add(s.namespace));
        break;
      }
      case 'Pod': {
        const s = selected ? convertPod(o) : undefined;
        if (s) (out.pods.push(s), used.add(s.namespace));
        break;
      }
      case 'Namespace': {
        const n = convertNamespace(o);
        if (n) (out.namespaces.push(n), declared.add(n.name));
        break;
      }
    }
  };
  for (const file of manifestFiles(p)) {
    const text = fs.readFileSync(file, 'utf8');
    if (/\.json$/i.test(file)) {
      // JSON: JSON.parse, far cheaper than a YAML parse of the same text.
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch (e) {
        throw new Error(`${file}:1: ${(e as Error).message}`);
      }
      add(v);
      continue;
    }
    // YAML: one document at a time (streamed through Parser → Composer), so only one document's
    // syntax tree is alive at once, not the whole file's.
    const lines = new LineCounter();
    const docs = new Composer().compose(new Parser(lines.addNewLine).parse(text), true);
    for (const doc of docs) {
      const err = doc.errors[0];
      if (err !== undefined) {
        const line = lines.linePos(err.pos[0]).line || lineOf(text, err.pos[0]);
        throw new Error(`${file}:${line}: ${err.message.split('\n')[0]}`);
      }
      add(doc.toJS());
    }
  }
  for (const ns of used) if (!declared.has(ns)) out.namespaces.push({ name: ns, labels: {} });
  return out;
}

function lineOf(text: string, pos: number): number {
  let n = 1;
  for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** A stat signature of the files: changes when any file is added, removed or modified. */
function signature(p: string): string {
  try {
    return manifestFiles(p)
      .map((f) => {
        const st = fs.statSync(f);
        return `${f}:${st.mtimeMs}:${st.size}:${st.ino}`;
      })
      .join('|');
  } catch (e) {
    return `error:${(e as Error).message}`;
  }
}

export class ManifestSource implements ObjectSource {
  private sink: ObjectSink | undefined;
  private synced = false;
  private sig = '';
  private timer: NodeJS.Timeout | undefined;
  private watcher: fs.FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    readonly path: string,
    private readonly opts: ManifestOptions = {},
  ) {}

  async start(sink: ObjectSink): Promise<void> {
    this.sink = sink;
    this.sig = signature(this.path);
    this.apply(readManifests(this.path, this.opts.labels));
    this.synced = true;
    this.timer = setInterval(() => this.check(), this.opts.pollMs ?? 1000);
    this.timer.unref();
    try {
      this.watcher = fs.watch(this.path, { recursive: false }, () => {
        if (this.debounce) clearTimeout(this.debounce);
        this.debounce = setTimeout(() => this.check(), 50);
        this.debounce.unref();
      });
      this.watcher.on('error', () => this.watcher?.close());
      this.watcher.unref();
    } catch {
      // polling alone
    }
  }

  hasSynced(): boolean {
    return this.synced;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher?.close();
  }

  /** Re-read if the files changed. */
  check(): void {
    if (this.stopped || this.sink === undefined) return;
    const sig = signature(this.path);
    if (sig === this.sig) return;
    this.sig = sig;
    try {
      this.apply(readManifests(this.path, this.opts.labels));
      this.opts.log?.info(`manifests reloaded from ${this.path}`);
    } catch (e) {
      this.opts.log?.error(`manifests: keeping the last good data: ${(e as Error).message}`);
    }
  }

  private apply(o: ManifestObjects): void {
    const sink = this.sink!;
    sink.replaceAll('namespaces', o.namespaces);
    sink.replaceAll('services', o.services);
    sink.replaceAll('endpointslices', o.slices);
    sink.replaceAll('pods', o.pods);
    sink.commit();
  }
}
