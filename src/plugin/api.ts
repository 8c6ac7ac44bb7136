// "typedns/plugin": the public API for plugin authors. The built-in plugins import only this.
export { definePlugin } from './types.js';
export type {
  BoundAddress,
  Client,
  ClientAuth,
  ListenHttps,
  ListenSettings,
  ListenTls,
  ListenTimeouts,
  MaybePromise,
  Message,
  Next,
  Plugin,
  PluginDefinition,
  ProcessState,
  Rcode,
  Request,
  ResponseWriter,
  SetupContext,
  Slot,
  Trace,
} from './types.js';
export { Dispenser, parseDuration } from '../corefile/dispenser.js';
export { CorefileError, type Token } from '../corefile/lexer.js';
export { Fall } from './fall.js';
export { Zones } from './zones.js';
export { WrappedWriter, CaptureWriter } from './wrapped-writer.js';
export { EXACT_FLAGS, coreWriterOf } from '../request/writer.js';
export { writtenBy, settle, nextSettled } from './chain.js';
export { TypednsError, pluginError, markLogged, wasLogged } from './errors.js';
export { API_VERSION } from './registry.js';
export { reply, negative, rcodeOf, rr, rrText, type RR, type ReplyOptions } from '../dns/message.js';
export { RCODE, DROP, QTYPE, QCLASS, FLAG, typeName, typeFromName, rcodeName, rcodeFromName, className } from '../dns/constants.js';
export { fqdn, isSubdomain, parentName, countLabels, reverseName, reverseToIp, encodeName, ip6Text } from '../dns/names.js';
export { parseCidr, cidrContains, type Cidr } from '../corefile/keys.js';
export { ipBytes } from '../dns/ip.js';
export { emptyReply, setId, replyRcode, skipName, skipRecord, questionsEnd, RecordCursor, readName, checkName, wellFormedMessage, sameQuestion, writeOpt, findOpt, OUR_UDP_SIZE } from '../dns/wire.js';
export { FrameReader, FrameGather, frame } from '../dns/frame.js';
export { parseOpt, replaceOpt, type OptRecord, type EdnsOption } from '../dns/opt.js';
export type { Logger } from '../observe/log.js';
export type { Metrics, Counter, Gauge, Histogram, FastCounter, FastHistogram, FastCounterChild, FastHistogramChild } from '../observe/metrics.js';
export { pack, concatPacked, packedReply, EMPTY as EMPTY_PACKED, type Packed } from '../dns/pack.js';
export { resolvConfSearch, hostSearchPath } from '../dns/resolvconf.js';
export { startMetadata, setMetadata, metadataValue, metadataLabels, isMetadataCollector, type MetadataCollector } from './metadata.js';
export { setDeadline, deadlineOf } from './deadline.js';
export { everyUnlessBusy } from './periodic.js';
export { httpListeners, httpText, addressArg, parseAddress, httpLimits, DEFAULT_HTTP, type HttpHandle, type HttpHandler, type HttpLimits } from '../observe/http.js';
