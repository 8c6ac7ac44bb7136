// typedns's own object source: Kubernetes objects in YAML (or JSON) files — one file, or every
// *.yaml/*.yml/*.json file under a folder — multi-document, `kind: List` accepted. Services,
// EndpointSlices, Pods and Namespaces are cut to slim records by watch/convert.ts; other kinds are
// ignored. Namespaces that objects use but no file declares are created implicitly (as a cluster
// always has them). The path is watched (fs.watch, plus a stat poll as a fallback). On a change,
// only the files whose mtime, size or inode changed are read again, parsed in a worker thread
// (manifest-worker.ts) while the previous data keeps answering, and only the objects of those
// files are applied to the store, in slices that yield to queries. A file that fails to parse
// keeps its last good objects.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { Logger } from '../../src/plugin/api.js';
import type { ObjectSink, ObjectSource, SlimEndpointSlice, SlimNamespace, SlimPod, SlimService } from './watch/objects.js';
import { convertNamespace, convertPod, convertService, convertSlice } from './watch/convert.js';
import { selectorMatches, type Selector } from './selector.js';
import type { ParseReply, ParseRequest } from './manifest-worker.js';

// yaml is loaded the first time a manifest file is read, not when the plugin list is imported:
// it costs ~8 MB of RSS that a Corefile without `kubernetes … manifests` should not pay (#17).
// A synchronous require because readManifestFile() is synchronous.
const requireYaml = createRequire(import.meta.url);
let yamlModule: typeof Yaml | undefined;
function yaml(): typeof Yaml {
  return (yamlModule ??= requireYaml('yaml') as typeof Yaml);
}

export interface ManifestOptions {
  /** `labels`: only Services, EndpointSlices and Pods matching this selector. */
  labels?: Selector;
  /** Poll interval in ms (default 1000). */
  pollMs?: number;
  log?: Logger;
  /** Objects already parsed by another configuration of this process (a Corefile reload). */
  cache?: ManifestCache;
}

/**
 * Parsed manifest files shared between config generations: a Corefile reload starts a new
 * source, which takes the objects of every file whose stamp (mtime, size, inode) and `labels` are
 * those of a file a running source holds, instead of parsing it again. Each source holds a
 * reference per file until it reads that file again or stops; the last one drops the objects.
 */
export class ManifestCache {
  private readonly entries = new Map<string, { objects: FileObjects; refs: number }>();

  /** Files held now (tests). */
  get size(): number {
    return this.entries.size;
  }

  /** The objects held under `key`, with a reference taken. */
  take(key: string): FileObjects | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    e.refs++;
    return e.objects;
  }

  /** Hold freshly parsed objects under `key` (one reference). */
  put(key: string, objects: FileObjects): void {
    const e = this.entries.get(key);
    if (e !== undefined) e.refs++;
    else this.entries.set(key, { objects, refs: 1 });
  }

  release(key: string): void {
    const e = this.entries.get(key);
    if (e === undefined) return;
    if (--e.refs <= 0) this.entries.delete(key);
  }
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

/** The objects of one manifest file, and the namespaces they use. */
export interface FileObjects extends ManifestObjects {
  /** Namespaces of the Services, EndpointSlices and Pods in the file. */
  used: string[];
}

/** Read and convert the objects of one file. Throws "file:line: message" on a YAML or JSON error. */
export function readManifestFile(file: string, labels?: Selector): FileObjects {
  const out: FileObjects = { services: [], slices: [], pods: [], namespaces: [], used: [] };
  const used = new Set<string>();
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
        if (n) out.namespaces.push(n);
        break;
      }
    }
  };
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
  } else {
    // YAML: one document at a time (streamed through Parser → Composer), so only one document's
    // syntax tree is alive at once, not the whole file's.
    const { Composer, LineCounter, Parser } = yaml();
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
  out.used = [...used];
  return out;
}

/** The objects of several files (in order: a later file's object replaces an earlier one of the same name). */
export function combine(files: readonly FileObjects[]): ManifestObjects {
  const out: ManifestObjects = { services: [], slices: [], pods: [], namespaces: [] };
  const declared = new Set<string>();
  const used = new Set<string>(['default']);
  // (loops, not push(...list): a file can hold more objects than a call has room for arguments)
  for (const f of files) {
    for (const x of f.services) out.services.push(x);
    for (const x of f.slices) out.slices.push(x);
    for (const x of f.pods) out.pods.push(x);
    for (const x of f.namespaces) out.namespaces.push(x);
    for (const n of f.namespaces) declared.add(n.name);
    for (const n of f.used) used.add(n);
  }
  for (const ns of used) if (!declared.has(ns)) out.namespaces.push({ name: ns, labels: {} });
  return out;
}

/** Read and convert every object under `p`. Throws "file:line: message" on a YAML error. */
export function readManifests(p: string, labels?: Selector): ManifestObjects {
  return combine(manifestFiles(p).map((f) => readManifestFile(f, labels)));
}

function lineOf(text: string, pos: number): number {
  let n = 1;
  for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** What a file looked like on disk when it was read. */
const stampOf = (st: fs.Stats): string => `${st.mtimeMs}:${st.size}:${st.ino}`;

/** The compiled parser thread: beside this module when built, else in dist/ (tests run the sources). */
function workerScript(): URL | undefined {
  for (const rel of ['./manifest-worker.js', '../../dist/plugins/kubernetes/manifest-worker.js']) {
    const u = new URL(rel, import.meta.url);
    if (fs.existsSync(fileURLToPath(u))) return u;
  }
  return undefined;
}

/** How long applying changes to the store may hold the event loop before it yields (ms). */
const SLICE_MS = 8;
const yieldLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Pending {
  /** The thread parsing it (a thread that ends fails only its own requests). */
  readonly worker: Worker;
  readonly acc: FileObjects;
  readonly resolve: (o: FileObjects) => void;
  readonly reject: (e: Error) => void;
}

export class ManifestSource implements ObjectSource {
  private sink: ObjectSink | undefined;
  private synced = false;
  /**
   * Each file's stamp and objects, as last read (a file that stopped parsing keeps its last good
   * objects), and the ManifestCache key they are held under.
   */
  private files = new Map<string, { stamp: string; objects: FileObjects; key: string | undefined }>();
  /** The objects in the store. */
  private applied: ManifestObjects | undefined;
  private timer: NodeJS.Timeout | undefined;
  private watcher: fs.FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private again = false;
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  /** What `labels` is, in the ManifestCache key (objects parsed with another selector differ). */
  private readonly labelsKey: string;

  constructor(
    readonly path: string,
    private readonly opts: ManifestOptions = {},
  ) {
    this.labelsKey = JSON.stringify(opts.labels ?? null);
  }

  async start(sink: ObjectSink): Promise<void> {
    this.sink = sink;
    try {
      await this.refresh(true);
    } finally {
      this.idle();
    }
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
    if (!this.stopped) for (const f of this.files.values()) if (f.key !== undefined) this.opts.cache?.release(f.key);
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher?.close();
    const w = this.worker;
    this.worker = undefined;
    for (const p of this.pending.values()) p.reject(new Error('manifests source stopped'));
    this.pending.clear();
    await w?.terminate();
  }

  /** Re-read the files that changed (one run at a time; a change during a run starts another). */
  check(): void {
    if (this.stopped || this.sink === undefined) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.refresh(false)
      .catch((e: unknown) => this.opts.log?.error(`manifests: ${(e as Error).message}`))
      .finally(() => {
        this.running = undefined;
        this.idle();
        if (this.again) {
          this.again = false;
          this.check();
        }
      });
  }

  /** The current run's end (tests). */
  settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /**
   * Stat every file; parse (in the worker) only those whose mtime, size or inode changed; then
   * apply what differs from the store's objects. At start a parse error is thrown; later it is
   * logged and that file's last good objects stay.
   */
  private async refresh(first: boolean): Promise<void> {
    let list: string[];
    try {
      list = manifestFiles(this.path);
    } catch (e) {
      if (first) throw e;
      this.opts.log?.error(`manifests: keeping the last good data: ${(e as Error).message}`);
      return;
    }
    const next = new Map<string, { stamp: string; objects: FileObjects; key: string | undefined }>();
    const cache = this.opts.cache;
    /** Cache references taken in this run: given back if it is abandoned. */
    const taken: string[] = [];
    const abandon = (): void => {
      for (const k of taken) cache?.release(k);
    };
    let changed = list.length !== this.files.size;
    for (const f of list) {
      let stamp: string;
      try {
        stamp = stampOf(fs.statSync(f));
      } catch {
        changed = true;
        continue; // gone meanwhile
      }
      const old = this.files.get(f);
      if (old !== undefined && old.stamp === stamp) {
        next.set(f, old);
        continue;
      }
      changed = true;
      const key = `${this.labelsKey}\0${f}\0${stamp}`;
      const shared = cache?.take(key);
      if (shared !== undefined) {
        taken.push(key);
        this.opts.log?.debug(`manifest file ${f} unchanged: the objects already parsed are used`);
        next.set(f, { stamp, objects: shared, key });
        continue;
      }
      this.opts.log?.debug(`parsing manifest file ${f}`);
      try {
        const objects = await this.parse(f);
        if (this.stopped) return abandon();
        cache?.put(key, objects);
        taken.push(key);
        next.set(f, { stamp, objects, key });
      } catch (e) {
        if (first) {
          abandon();
          throw e;
        }
        if (this.stopped) return abandon();
        this.opts.log?.error(`manifests: keeping the last good data: ${(e as Error).message}`);
        // the last good objects stay held under their key
        const k = old?.key !== undefined && cache?.take(old.key) !== undefined ? old.key : undefined;
        if (k !== undefined) taken.push(k);
        next.set(f, { stamp, objects: old?.objects ?? { services: [], slices: [], pods: [], namespaces: [], used: [] }, key: k });
      }
      if (this.stopped) return abandon();
    }
    if (!changed) return;
    if (this.stopped) return abandon();
    // the files read again, or gone: their old objects are given back
    const kept = new Set(next.values());
    for (const x of this.files.values()) if (!kept.has(x) && x.key !== undefined) cache?.release(x.key);
    this.files = next;
    await this.apply(combine([...next.values()].map((x) => x.objects)));
    if (!first) this.opts.log?.info(`manifests reloaded from ${this.path}`);
  }

  /**
   * End the parser thread between runs: its heap (a parsed 50 MB file leaves a few hundred MB)
   * goes with it. A run starts a new one (tens of ms) when a file changed.
   */
  private idle(): void {
    const w = this.worker;
    if (w === undefined || this.pending.size > 0) return;
    this.worker = undefined;
    void w.terminate();
  }

  /** One file's objects, parsed by the worker thread (in this thread when there is no compiled worker). */
  private parse(file: string): Promise<FileObjects> {
    const w = this.worker ?? this.startWorker();
    if (w === undefined) return Promise.resolve(readManifestFile(file, this.opts.labels));
    const id = ++this.nextId;
    return new Promise<FileObjects>((resolve, reject) => {
      this.pending.set(id, { worker: w, acc: { services: [], slices: [], pods: [], namespaces: [], used: [] }, resolve, reject });
      w.postMessage({ id, file, labels: this.opts.labels } satisfies ParseRequest);
    });
  }

  private startWorker(): Worker | undefined {
    const script = workerScript();
    if (script === undefined) return undefined;
    const w = new Worker(script);
    w.unref();
    w.on('message', (m: ParseReply) => {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      if ('part' in m) {
        for (const k of ['services', 'slices', 'pods', 'namespaces'] as const) {
          const items = m.part[k];
          if (items !== undefined) for (const it of items) (p.acc[k] as unknown[]).push(it);
        }
        // the next batch once queries waiting meanwhile were answered
        setImmediate(() => this.worker === w && w.postMessage({ id: m.id, next: true } satisfies ParseRequest));
        return;
      }
      this.pending.delete(m.id);
      if ('error' in m) p.reject(new Error(m.error));
      else {
        p.acc.used = m.used;
        p.resolve(p.acc);
      }
    });
    const fail = (e: Error): void => {
      if (this.worker === w) this.worker = undefined;
      for (const [id, p] of this.pending) {
        if (p.worker !== w) continue;
        this.pending.delete(id);
        p.reject(e);
      }
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`manifest parser thread exited (${code})`)));
    this.opts.log?.debug('manifest parser thread started');
    this.worker = w;
    return w;
  }

  /**
   * Bring the store from the applied objects to `o`: only objects that are new or were re-read
   * (objects of unchanged files are the same objects) are upserted, the missing ones deleted, a
   * slice of the changes at a time with the store committed in between. Each object changes in
   * one step; while a large change is applied, some names already answer from the new data and
   * others still from the old.
   */
  private async apply(o: ManifestObjects): Promise<void> {
    const sink = this.sink!;
    const prev = this.applied ?? { services: [], slices: [], pods: [], namespaces: [] };
    this.applied = o;
    let since = performance.now();
    let n = 0;
    // Every step (a map entry, a comparison, a store write) yields; the loop lets queries in
    // every SLICE_MS. Comparing 100,000 objects in one go held the thread for seconds.
    for (const _ of this.changes(sink, prev, o)) {
      if ((++n & 255) === 0 && performance.now() - since > SLICE_MS) {
        sink.commit();
        await yieldLoop();
        if (this.stopped) return;
        since = performance.now();
      }
    }
    sink.commit();
  }

  /** Apply the difference between `prev` and `o` to the store, one step per yield. */
  private *changes(sink: ObjectSink, prev: ManifestObjects, o: ManifestObjects): Generator<void> {
    const deletes: Array<() => void> = [];
    const nsed = (x: { namespace: string; name: string }): string => `${x.namespace}/${x.name}`;
    yield* diff(prev.namespaces, o.namespaces, (n) => n.name, (n) => sink.upsertNamespace(n), (n) => deletes.push(() => sink.deleteNamespace(n.name)));
    const later: Array<() => void> = [];
    yield* diff(prev.services, o.services, nsed, (s) => sink.upsertService(s), (s) => later.push(() => sink.deleteService(s.namespace, s.name)));
    yield* diff(prev.slices, o.slices, nsed, (s) => sink.upsertSlice(s), (s) => later.push(() => sink.deleteSlice(s.namespace, s.name)));
    yield* diff(prev.pods, o.pods, nsed, (p) => sink.upsertPod(p), (p) => later.push(() => sink.deletePod(p.namespace, p.name)));
    // objects go before the namespaces that held them
    for (const d of later) (d(), yield);
    for (const d of deletes) (d(), yield);
  }
}

/**
 * Upsert what is in `after` but not (as the same object) in `before`, report what is gone; a
 * later object of the same key wins. One step per yield.
 */
function* diff<T>(before: readonly T[], after: readonly T[], key: (x: T) => string, put: (x: T) => void, gone: (x: T) => void): Generator<void> {
  const old = new Map<string, T>();
  for (const x of before) (old.set(key(x), x), yield);
  const now = new Map<string, T>();
  for (const x of after) (now.set(key(x), x), yield);
  for (const [k, x] of now) {
    if (old.get(k) !== x) put(x);
    yield;
  }
  for (const [k, x] of old) {
    if (!now.has(k)) gone(x);
    yield;
  }
}
