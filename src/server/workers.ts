// -workers N: all cores with node:cluster. The primary forks N workers; each worker runs the
// whole server (same Corefile, same addresses: cluster shares the TCP handles, and the UDP ones
// under node:dgram; the native UDP sockets are one SO_REUSEPORT group that sends every query for
// a name to the same worker, so over UDP their caches make one). The primary:
//   - forwards SIGTERM and SIGINT (as SIGTERM) and SIGUSR1 (reload) to every worker,
//   - restarts a worker that dies (with a growing delay when they keep dying fast), and exits 1
//     if a worker dies before any worker has started (the worker printed why),
//   - relays the changes of a shared data source from the worker that runs it to the others
//     (share.ts: one Kubernetes list/watch set for the whole process tree),
//   - gathers every worker's metrics for whichever worker serves /metrics: a worker's
//     `metrics.exposition()` asks the primary over IPC, the primary asks each worker for its
//     registry as JSON and hands the list back, and the asking worker sums them (prom-client's
//     AggregatorRegistry.aggregate).
// The primary loads no plugin, no server code and not prom-client (cli.ts checks the Corefile
// on a thread that ends before the workers are forked): it holds only the supervision state.
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { TextLogger } from '../observe/log.js';
import type { MetricsRegistry } from '../observe/metrics.js';
import { ShareRelay } from './share.js';

/** `-workers` value: a number ≥ 1, or `auto` (os.availableParallelism()). */
export function parseWorkers(v: string): number {
  if (v === 'auto') return os.availableParallelism();
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 1024) throw new Error(`invalid -workers '${v}': a number from 1 to 1024, or auto`);
  return Number(v);
}

/** True in a process forked by runPrimary. */
export const isWorker = (): boolean => cluster.isWorker;

/** In a worker: how many workers the primary runs (their UDP sockets steer each name to one of them). */
export const workerGroup = (): number => (cluster.isWorker ? Number(process.env.TYPEDNS_WORKERS) || 1 : 1);

/** Only the first worker prints the start banner. */
export const printsBanner = (): boolean => !cluster.isWorker || cluster.worker?.id === 1;

const READY = 'typedns:ready';
/** Primary → workers: whether every worker has started (their /ready says 503 until then). */
const ALL_READY = 'typedns:all-ready';
/** Worker → primary: gather the workers' metrics for me. */
const METRICS_REQ = 'typedns:metrics-req';
/** Primary → worker: the workers' metrics (`metrics`, each a registry's JSON), or `error`. */
const METRICS_RES = 'typedns:metrics-res';
/** Primary → each worker: send me your registry as JSON; worker → primary: here it is (`metrics`). */
const METRICS_JSON_REQ = 'typedns:metrics-json-req';
const METRICS_JSON_RES = 'typedns:metrics-json-res';
/** How long the primary waits for every worker's metrics. */
const METRICS_WAIT_MS = 5000;

interface Msg {
  type?: string;
  id?: number;
  error?: string;
  value?: boolean;
  metrics?: unknown[];
}

/** One worker's request for everyone's metrics, while the primary gathers them. */
interface Gathering {
  readonly asker: Worker;
  readonly id: number;
  readonly from: Set<Worker>;
  readonly got: unknown[];
  readonly timer: NodeJS.Timeout;
}

/** Run the primary: fork `workers` workers, supervise them; resolves with the exit code. */
export function runPrimary(workers: number, log: TextLogger): Promise<number> {
  const relay = new ShareRelay();
  const live = new Set<Worker>();
  /** Workers whose server serves (listeners bound, startup hooks done). */
  const serving = new Set<Worker>();
  const tellAll = (): void => {
    const value = serving.size >= workers;
    for (const w of live) if (w.isConnected()) w.send({ type: ALL_READY, value });
    // every worker serves: the pages the primary's start used leave its RSS (and every 30 s)
    if (value) void import('./trim.js').then((t) => t.releasePages(log));
  };
  const startedAt = new Map<Worker, number>();
  let anyReady = false;
  let stopping = false;
  let quickDeaths = 0;

  const gatherings = new Map<number, Gathering>();
  let gatherSeq = 0;
  const gathered = (gid: number, g: Gathering, error?: string): void => {
    gatherings.delete(gid);
    clearTimeout(g.timer);
    if (g.asker.isConnected()) g.asker.send(error === undefined ? { type: METRICS_RES, id: g.id, metrics: g.got } : { type: METRICS_RES, id: g.id, error });
  };
  /** A worker that exited is not waited for. */
  const notWaitedFor = (w: Worker): void => {
    for (const [gid, g] of gatherings) if (g.from.delete(w) && g.from.size === 0) gathered(gid, g);
  };

  const onMessage = (w: Worker, m: Msg): void => {
    if (relay.message(w, m)) return;
    if (m?.type === READY) {
      anyReady = true;
      serving.add(w);
      tellAll();
    } else if (m?.type === METRICS_REQ && m.id !== undefined) {
      const gid = gatherSeq++;
      const from = new Set([...live].filter((x) => x.isConnected()));
      const g: Gathering = { asker: w, id: m.id, from, got: [], timer: setTimeout(() => gathered(gid, g, 'a worker did not answer in time'), METRICS_WAIT_MS) };
      gatherings.set(gid, g);
      for (const x of from) x.send({ type: METRICS_JSON_REQ, id: gid });
      if (from.size === 0) gathered(gid, g);
    } else if (m?.type === METRICS_JSON_RES && m.id !== undefined) {
      const g = gatherings.get(m.id);
      if (g === undefined || !g.from.delete(w)) return;
      if (m.error !== undefined) return gathered(m.id, g, m.error);
      g.got.push(m.metrics ?? []);
      if (g.from.size === 0) gathered(m.id, g);
    }
  };

  const fork = (): void => {
    const w = cluster.fork({ TYPEDNS_WORKERS: String(workers) });
    live.add(w);
    startedAt.set(w, Date.now());
    w.on('message', (m: Msg) => onMessage(w, m));
    w.on('online', () => log.info(`worker ${w.id} started (pid ${w.process.pid})`));
    // a message to a worker that is exiting fails (EPIPE): its exit is handled on 'exit', and an
    // unhandled 'error' event would take the primary and every other worker down with it
    w.on('error', (e: Error) => log.debug(`worker ${w.id}: ${e.message}`));
  };

  return new Promise<number>((resolve) => {
    const stopAll = (sig: NodeJS.Signals): void => {
      for (const w of live) w.process.kill(sig);
      // a worker that does not stop in time is killed
      setTimeout(() => {
        for (const w of live) w.process.kill('SIGKILL');
      }, 10_000).unref();
    };
    const stop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      log.info(`${sig}: stopping ${live.size} worker(s)`);
      if (live.size === 0) resolve(0);
      else stopAll('SIGTERM');
    };

    cluster.on('exit', (w, code, signal) => {
      live.delete(w);
      relay.gone(w);
      notWaitedFor(w);
      if (serving.delete(w)) tellAll();
      if (stopping) {
        if (live.size === 0) resolve(anyReady ? 0 : 1);
        return;
      }
      if (!anyReady) {
        // Failing before any worker served: a bad Corefile or a taken port. Don't loop.
        stopping = true;
        if (live.size === 0) resolve(1);
        else stopAll('SIGTERM');
        return;
      }
      const lived = Date.now() - (startedAt.get(w) ?? 0);
      startedAt.delete(w);
      quickDeaths = lived < 5000 ? quickDeaths + 1 : 0;
      const delay = Math.min(30_000, 100 * 2 ** quickDeaths);
      log.error(`worker ${w.id} (pid ${w.process.pid}) died (${signal ?? `exit ${code}`}); starting another in ${delay} ms`);
      setTimeout(() => {
        if (!stopping) fork();
      }, delay);
    });

    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGUSR1', () => {
      for (const w of live) w.process.kill('SIGUSR1');
    });
    process.on('SIGHUP', () => {});
    for (let i = 0; i < workers; i++) fork();
  });
}

/**
 * In a worker, once its server runs: answer the primary's requests for this worker's metrics
 * (`metrics`, the server's), make `metrics.exposition()` return every worker's metrics summed,
 * and tell the primary it started.
 */
export async function startWorker(metrics: MetricsRegistry, addReadiness: (entry: { name: string; ready(): boolean }) => void): Promise<void> {
  // imported here: the primary imports this module and must not load prom-client (the worker has it already)
  const { AggregatorRegistry } = await import('../observe/prom.js');
  // /ready in any worker says 503 until every worker serves (one of them may still be syncing).
  let all = false;
  addReadiness({ name: 'workers', ready: () => all });
  process.on('message', (m: Msg) => {
    if (m?.type === ALL_READY) all = m.value === true;
  });
  const pending = new Map<number, { resolve: (t: string) => void; reject: (e: Error) => void }>();
  let seq = 0;
  process.on('message', (m: Msg) => {
    if (m?.type === METRICS_JSON_REQ) {
      metrics.registry.getMetricsAsJSON().then(
        (json) => process.send?.({ type: METRICS_JSON_RES, id: m.id, metrics: json }),
        (e: unknown) => process.send?.({ type: METRICS_JSON_RES, id: m.id, error: (e as Error).message }),
      );
      return;
    }
    if (m?.type !== METRICS_RES || m.id === undefined) return;
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (p === undefined) return;
    if (m.error !== undefined) return p.reject(new Error(`metrics from the workers: ${m.error}`));
    // summed as prom-client's AggregatorRegistry does in a primary (counters and histograms add up; a gauge's `aggregator` says how)
    AggregatorRegistry.aggregate((m.metrics ?? []) as MetricObjectWithValues<MetricValue<string>>[][])
      .metrics()
      .then(p.resolve, p.reject);
  });
  metrics.exposition = () =>
    new Promise<string>((resolve, reject) => {
      const id = seq++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('metrics from the workers: no answer from the primary'));
      }, 8000);
      pending.set(id, {
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      process.send?.({ type: METRICS_REQ, id });
    });
  process.send?.({ type: READY });
}
