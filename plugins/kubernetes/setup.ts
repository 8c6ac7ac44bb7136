// Corefile parsing for `kubernetes [ZONES...] { ... }` (CoreDNS plugin/kubernetes/setup.go):
// pure tokens → KubernetesConfig. Every bad input throws d.err(...) naming file:line.
import { Fall, Zones, parseDuration, type Dispenser } from '../../src/plugin/api.js';
import { isReverseZone } from './names.js';
import { parseSelector } from './selector.js';

export type PodMode = 'disabled' | 'insecure' | 'verified';

/** The parsed `kubernetes` stanza. watch/client.ts's createApiSource(cfg, log) reads it too. */
export interface KubernetesConfig {
  /** The plugin's zones (lower-case FQDNs): the directive's arguments or the block's zones. */
  zones: string[];
  /** The first non-reverse zone: PTR targets and `ns.dns.<zone>` use it. */
  primaryZone: string;
  /** API server URL (`endpoint`); only the first URL is used. */
  endpoint?: string;
  /** Client TLS for `endpoint` (paths as written; relative to the Corefile's directory). */
  tls?: { cert: string; key: string; ca: string };
  /** `kubeconfig FILE [CONTEXT]`. */
  kubeconfig?: { file: string; context?: string };
  /** Exposed namespaces; empty = all. */
  namespaces: string[];
  /** `labels EXPR`: label selector for Services, EndpointSlices and Pods (validated). */
  labels?: string;
  /** `namespace_labels EXPR`: only namespaces matching this selector are exposed (validated). */
  namespaceLabels?: string;
  pods: PodMode;
  endpointPodNames: boolean;
  /** Record TTL in seconds (0..3600, default 5). */
  ttl: number;
  noEndpoints: boolean;
  fall: Fall;
  ignoreEmptyService: boolean;
  /** Client-side rate limits; 0 = client default. */
  apiserverQps: number;
  apiserverBurst: number;
  apiserverMaxInflight: number;
  /** Wait for the first sync at startup, in milliseconds (default 5000). */
  startupTimeout: number;
  /** typedns's own source: a YAML file or folder of objects (relative to the Corefile's directory). */
  manifests?: string;
}

export function parseKubernetes(d: Dispenser, blockZones: readonly string[]): KubernetesConfig {
  let cfg: KubernetesConfig | undefined;
  while (d.next()) {
    if (cfg !== undefined) throw d.err('this plugin can only be used once per Server Block');
    const zones = Zones.from(d.remainingArgs(), blockZones).list;
    const primary = zones.find((z) => !isReverseZone(z));
    if (primary === undefined) throw d.err('non-reverse zone name must be used');
    const c = defaultConfig([...zones], primary);
    while (d.nextBlock()) {
      const opt = d.val();
      switch (opt) {
        case 'endpoint': {
          const args = d.remainingArgs();
          if (args.length === 0) throw d.argErr();
          c.endpoint = args[0]!;
          break;
        }
        case 'tls': {
          const args = d.remainingArgs();
          if (args.length !== 3) throw d.argErr();
          c.tls = { cert: args[0]!, key: args[1]!, ca: args[2]! };
          break;
        }
        case 'kubeconfig': {
          const args = d.remainingArgs();
          if (args.length < 1 || args.length > 2) throw d.argErr();
          c.kubeconfig = args.length === 2 ? { file: args[0]!, context: args[1]! } : { file: args[0]! };
          break;
        }
        case 'namespaces': {
          const args = d.remainingArgs();
          if (args.length === 0) throw d.argErr();
          if (c.namespaceLabels !== undefined) throw d.err('namespaces and namespace_labels cannot both be set');
          c.namespaces.push(...args);
          break;
        }
        case 'labels':
        case 'namespace_labels': {
          const args = d.remainingArgs();
          if (args.length === 0) throw d.argErr();
          const expr = args.join(' ');
          try {
            parseSelector(expr);
          } catch (e) {
            throw d.err(`unable to parse label selector value: '${expr}': ${(e as Error).message}`);
          }
          if (opt === 'labels') c.labels = expr;
          else {
            if (c.namespaces.length > 0) throw d.err('namespaces and namespace_labels cannot both be set');
            c.namespaceLabels = expr;
          }
          break;
        }
        case 'pods': {
          const v = d.arg();
          if (v !== 'disabled' && v !== 'insecure' && v !== 'verified') throw d.err(`invalid value for pods: ${v}, must be one of: disabled, verified, insecure`);
          d.noMoreArgs();
          c.pods = v;
          break;
        }
        case 'endpoint_pod_names':
          d.noMoreArgs();
          c.endpointPodNames = true;
          break;
        case 'ttl': {
          const v = d.arg();
          if (!/^-?\d+$/.test(v)) throw d.err(`ttl must be an integer: '${v}'`);
          const n = Number(v);
          if (n < 0 || n > 3600) throw d.err(`ttl must be in range [0, 3600]: ${n}`);
          d.noMoreArgs();
          c.ttl = n;
          break;
        }
        case 'noendpoints':
          d.noMoreArgs();
          c.noEndpoints = true;
          break;
        case 'fallthrough':
          c.fall = Fall.from(d.remainingArgs());
          break;
        case 'ignore': {
          const v = d.arg();
          if (v !== 'empty_service') throw d.err(`unable to parse ignore value: '${v}'`);
          d.noMoreArgs();
          c.ignoreEmptyService = true;
          break;
        }
        case 'apiserver_qps':
        case 'apiserver_burst':
        case 'apiserver_max_inflight': {
          const v = d.arg();
          const ok = opt === 'apiserver_qps' ? /^\d+(\.\d+)?$/.test(v) : /^\d+$/.test(v);
          if (!ok) throw d.err(`${opt} must be a number >= 0: '${v}'`);
          d.noMoreArgs();
          if (opt === 'apiserver_qps') c.apiserverQps = Number(v);
          else if (opt === 'apiserver_burst') c.apiserverBurst = Number(v);
          else c.apiserverMaxInflight = Number(v);
          break;
        }
        case 'startup_timeout': {
          const v = d.arg();
          const ms = parseDuration(v);
          if (ms === undefined) throw d.err(`invalid startup_timeout '${v}', expected a duration such as 5s`);
          d.noMoreArgs();
          c.startupTimeout = ms;
          break;
        }
        case 'manifests': {
          c.manifests = d.arg();
          d.noMoreArgs();
          break;
        }
        case 'multicluster':
        case 'zonal':
          throw d.err(`'${opt}' is not supported by typedns`);
        default:
          throw d.unknownProperty();
      }
    }
    cfg = c;
  }
  if (cfg === undefined) throw d.err('missing kubernetes directive');
  return cfg;
}

/** The configuration of `kubernetes ZONES` with no options (CoreDNS's defaults). */
export function defaultConfig(zones: string[], primaryZone: string): KubernetesConfig {
  return {
    zones,
    primaryZone,
    namespaces: [],
    pods: 'disabled',
    endpointPodNames: false,
    ttl: 5,
    noEndpoints: false,
    fall: Fall.none,
    ignoreEmptyService: false,
    apiserverQps: 0,
    apiserverBurst: 0,
    apiserverMaxInflight: 0,
    startupTimeout: 5000,
  };
}
