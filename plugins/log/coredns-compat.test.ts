// CoreDNS 1.10.1's own log tables (plugin/log: log_test.go, setup_test.go) and the replacer tables
// the log formats go through (plugin/pkg/replacer/replacer_test.go) replayed against typedns: a
// real server on 127.0.0.1 with `log` in front of a test backend that writes what CoreDNS's test
// handler writes, the query sent from a socket whose port the test knows.
//
// Translations, row by row where they apply: CoreDNS's test writer has the fixed client address
// 10.240.0.1:40212; here the client is 127.0.0.1 and its real port. A replacer row that writes the
// request itself back as the reply (no QR bit) gets a real reply here, so QR is among its flags.
// Formats without a `{` cannot be given in a Corefile (the last argument is a format only when it
// holds one: CoreDNS's rule too), so those replacer rows run through compileFormat directly.
import { describe, expect, it } from 'vitest';
import dnsPacket from 'dns-packet';
import { definePlugin, DROP, FLAG, RCODE, setMetadata, type PluginDefinition } from '../../src/plugin/api.js';
import { buildQuery, exchangeRaw, fakeRequest, parsePlugin, Recorder, responder, rr, waitFor, type QueryOptions, type TestServer } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { checkStanza } from '../../test/support/check-corefile.js';
import log, { COMBINED, COMMON, compileFormat } from './index.js';

const { server } = scopedPerTest();

/** One UDP query from a socket bound on 127.0.0.1; its port, and the reply (undefined after `timeout`). */
async function ask(port: number, name: string, type: string, o: QueryOptions = {}, timeout = 2000): Promise<{ reply: Buffer | undefined; clientPort: number }> {
  let clientPort = 0;
  const reply = await exchangeRaw(port, buildQuery(name, type, o), { source: '127.0.0.1', timeout, onPort: (p) => (clientPort = p) });
  return { reply, clientPort };
}

/** CoreDNS's test.ErrorHandler: writes a SERVFAIL reply. */
const errorHandler = responder('backend', (req, w) => {
  w.write({ type: 'response', flags: RCODE.SERVFAIL, questions: [{ name: req.qname, type: 'A', class: 'IN' }] });
  return RCODE.SERVFAIL;
});

/** Log lines without the "[INFO] " prefix. */
const lines = (s: TestServer): string[] => s.log.lines.filter((l) => l.startsWith('[INFO] ')).map((l) => l.slice(7));

/** The Corefile stanza for one rule: `log NAME "FORMAT" { class … }` (the format quoted, its quotes escaped). */
const stanza = (name: string, format: string, classes: string[] = ['all']): string =>
  ` log ${name} "${format.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}" {\n  class ${classes.join(' ')}\n }\n`;

const corefile = (stanzas: string): string => `.:0 {\n bind 127.0.0.1\n${stanzas} backend\n}\n`;

// ---------------------------------------------------------------------------------------------
// log_test.go: TestLoggedStatus, TestLoggedClassDenial, TestLoggedClassError (next: ErrorHandler)

describe('CoreDNS TestLoggedStatus / TestLoggedClassDenial / TestLoggedClassError', () => {
  const rows: Array<{ name: string; classes: string[]; logged: boolean; contains: string }> = [
    { name: 'TestLoggedStatus', classes: ['all'], logged: true, contains: 'A IN example.org. udp 29 false 512' },
    { name: 'TestLoggedClassDenial', classes: ['denial'], logged: false, contains: '' },
    { name: 'TestLoggedClassError', classes: ['error'], logged: true, contains: 'SERVFAIL' },
  ];
  it('has 3 rows', () => expect(rows.length).toBe(3));
  it.each(rows.map((r) => [r.name, r] as const))('%s', async (_n, row) => {
    const s = await server(corefile(stanza('.', COMMON, row.classes)), { plugins: [errorHandler] });
    const { reply } = await ask(s.port, 'example.org.', 'A');
    expect(reply && reply[3]! & 0xf, 'rcode 2').toBe(RCODE.SERVFAIL);
    if (row.logged) {
      const got = await waitFor(() => lines(s).find((l) => l.includes(row.contains)), { what: `a line with ${row.contains}` });
      expect(got).toContain(row.contains);
    } else expect(lines(s)).toEqual([]); // written in the same turn as the reply: nothing more comes
  });
});

// ---------------------------------------------------------------------------------------------
// log_test.go: TestLogged

interface LoggedRow {
  rules: Array<[scope: string, format: string]>;
  domain: string;
  shouldLog: boolean;
  shouldString: string;
  shouldNotString: string;
}

const loggedRows: LoggedRow[] = [
  { rules: [["example.org.", COMMON]], domain: "example.org.", shouldLog: true, shouldString: "A IN example.org.", shouldNotString: "" },
  { rules: [["example.org.", COMMON]], domain: "example.net.", shouldLog: false, shouldString: "", shouldNotString: "" },
  { rules: [["example.org.", COMMON], ["example.net.", COMMON]], domain: "example.net.", shouldLog: true, shouldString: "A IN example.net.", shouldNotString: "" },
  { rules: [[".", "{type} {class}"]], domain: "example.org.", shouldLog: true, shouldString: "A IN", shouldNotString: "example.org" },
  { rules: [[".", "{remote}:{port}"]], domain: "example.org.", shouldLog: true, shouldString: "10.240.0.1:40212", shouldNotString: "A IN example.org" },
  { rules: [[".", COMBINED]], domain: "example.org.", shouldLog: true, shouldString: "\"0\"", shouldNotString: "" },
  { rules: [[".", COMBINED]], domain: "foo.%s.example.org.", shouldLog: true, shouldString: "foo.%s.example.org.", shouldNotString: "%!s(MISSING)" },
];

describe('CoreDNS TestLogged', () => {
  it('has 7 rows', () => expect(loggedRows.length).toBe(7));
  it.each(loggedRows.map((r, i) => [i, r] as const))('row %i', async (_i, row) => {
    const s = await server(corefile(row.rules.map(([n, f]) => stanza(n, f)).join('')), { plugins: [errorHandler] });
    const { clientPort } = await ask(s.port, row.domain, 'A');
    // CoreDNS's test writer is 10.240.0.1:40212; this client is 127.0.0.1 and its own port
    const want = row.shouldString.replace('10.240.0.1', '127.0.0.1').replace('40212', String(clientPort));
    if (!row.shouldLog) {
      expect(lines(s)).toEqual([]);
      return;
    }
    const got = await waitFor(() => lines(s)[0]);
    expect(got).toContain(want);
    if (row.shouldNotString !== '') expect(got).not.toContain(row.shouldNotString);
  });
});

// ---------------------------------------------------------------------------------------------
// setup_test.go: TestLogParse. Rules are compared per name scope (CoreDNS keeps one Rule per name).

type Cls = 'all' | 'success' | 'denial' | 'error';
const parseRows: Array<[input: string, shouldErr: boolean, rules: Array<[scope: string, format: string, classes: Cls[]]>]> = [
  ["log", false, [[".", COMMON, ["all"]]]],
  ["log example.org", false, [["example.org.", COMMON, ["all"]]]],
  ["log example.org. {common}", false, [["example.org.", COMMON, ["all"]]]],
  ["log example.org {combined}", false, [["example.org.", COMBINED, ["all"]]]],
  ["log example.org.\n\t\tlog example.net {combined}", false, [["example.org.", COMMON, ["all"]], ["example.net.", COMBINED, ["all"]]]],
  ["log example.org {host}\n\t\t\t  log example.org {when}", false, [["example.org.", "{host}", ["all"]], ["example.org.", "{when}", ["all"]]]],
  ["log example.org example.net", false, [["example.org.", COMMON, ["all"]], ["example.net.", COMMON, ["all"]]]],
  ["log example.org example.net {host}", false, [["example.org.", "{host}", ["all"]], ["example.net.", "{host}", ["all"]]]],
  ["log example.org example.net {when} {\n\t\t\tclass denial\n\t\t}", false, [["example.org.", "{when}", ["denial"]], ["example.net.", "{when}", ["denial"]]]],
  ["log example.org {\n\t\t\t\tclass all\n\t\t\t}", false, [["example.org.", COMMON, ["all"]]]],
  ["log example.org {\n\t\t\tclass denial\n\t\t}", false, [["example.org.", COMMON, ["denial"]]]],
  ["log {\n\t\t\tclass denial\n\t\t}", false, [[".", COMMON, ["denial"]]]],
  ["log {\n\t\t\tclass denial error\n\t\t}", false, [[".", COMMON, ["denial", "error"]]]],
  ["log {\n\t\t\tclass denial\n\t\t\tclass error\n\t\t}", false, [[".", COMMON, ["denial", "error"]]]],
  ["log {\n\t\t\tclass abracadabra\n\t\t}", true, []],
  ["log {\n\t\t\tclass\n\t\t}", true, []],
  ["log {\n\t\t\tunknown\n\t\t}", true, []],
  ["log example.org \"{combined} {/forward/upstream}\"", false, [["example.org.", COMBINED + " {/forward/upstream}", ["all"]]]],
  ["log example.org \"{common} {/forward/upstream}\"", false, [["example.org.", COMMON + " {/forward/upstream}", ["all"]]]],
  ["log example.org \"{when} {combined} {/forward/upstream}\"", false, [["example.org.", "{when} " + COMBINED + " {/forward/upstream}", ["all"]]]],
  ["log example.org \"{when} {common} {/forward/upstream}\"", false, [["example.org.", "{when} " + COMMON + " {/forward/upstream}", ["all"]]]],
];

describe('CoreDNS TestLogParse', () => {
  it('has 21 rows', () => expect(parseRows.length).toBe(21));
  it.each(parseRows.map((r, i) => [i, ...r] as const))('row %i: %j', (_i, input, shouldErr, want) => {
    const errs = checkStanza(input);
    if (shouldErr) {
      expect(errs.length).toBeGreaterThan(0);
      expect(errs[0]).toMatch(/^Corefile:\d+: plugin\/log: /);
      return;
    }
    expect(errs).toEqual([]);
    const got = parsePlugin(log, input).rules.flatMap((r) => r.names.map((n) => [n, r.format, [...new Set(r.classes)].sort()]));
    expect(got).toEqual(want.map(([n, f, c]) => [n, f, [...c].sort()]));
  });
});

// ---------------------------------------------------------------------------------------------
// replacer_test.go: TestReplacer, TestLabels, TestNoResponseWasWritten. One log line holds every
// label, separated by " | ", for one HINFO query for example.org. (ID 1053, AD and CD set).

const LABELS = ['{type}', '{name}', '{class}', '{proto}', '{size}', '{remote}', '{port}', '{local}', '{>id}', '{>opcode}', '{>do}', '{>bufsize}', '{rcode}', '{rsize}', '{duration}', '{>rflags}'];

/** [label, CoreDNS's expected value, the value through a live server when it differs (and why)] */
const labelRows: Array<[string, string, string?]> = [
  ["{type}", "HINFO"], ["{name}", "example.org."], ["{class}", "IN"], ["{proto}", "udp"], ["{size}", "29"],
  ["{remote}", "10.240.0.1", "127.0.0.1"], ["{port}", "40212", "<client port>"], ["{local}", "127.0.0.1"],
  ["{>id}", "1053"], ["{>opcode}", "0"], ["{>do}", "false"], ["{>bufsize}", "512"],
  ["{rcode}", "NOERROR"], ["{rsize}", "29"], ["{duration}", "0"], ["{>rflags}", "rd,ad,cd", "qr,rd,ad,cd"],
];
const noResponseRows: Array<[string, string, string?]> = [
  ["{type}", "HINFO"], ["{name}", "example.org."], ["{class}", "IN"], ["{proto}", "udp"], ["{size}", "29"],
  ["{remote}", "10.240.0.1", "127.0.0.1"], ["{port}", "40212", "<client port>"], ["{local}", "127.0.0.1"],
  ["{>id}", "1053"], ["{>opcode}", "0"], ["{>do}", "false"], ["{>bufsize}", "512"],
  ["{rcode}", "-"], ["{rsize}", "0"], ["{duration}", "0"], ["{>rflags}", "-"],
];

/** A query for example.org. HINFO through a server whose backend writes an empty NOERROR reply with AD, or drops it. */
async function labelLine(drop: boolean): Promise<{ values: Map<string, string>; clientPort: number }> {
  const backend = responder('backend', (req, w) => {
    if (drop) return DROP;
    w.write({ type: 'response', flags: FLAG.AD, questions: [{ name: req.qname, type: 'HINFO', class: 'IN' }] });
    return RCODE.NOERROR;
  });
  const s = await server(corefile(stanza('.', LABELS.join(' | '))), { plugins: [backend] });
  const { reply, clientPort } = await ask(s.port, 'example.org.', 'HINFO', { id: 1053, ad: true, cd: true }, drop ? 300 : 2000);
  expect(reply === undefined).toBe(drop);
  const line = await waitFor(() => lines(s)[0]);
  const parts = line.split(' | ');
  return { values: new Map(LABELS.map((l, i) => [l, parts[i] ?? ''])), clientPort };
}

describe('CoreDNS TestReplacer / TestLabels / TestNoResponseWasWritten', () => {
  it('has 3 + 16 + 16 rows', () => expect([3, labelRows.length, noResponseRows.length]).toEqual([3, 16, 16]));

  it('TestReplacer: {type} {name} {size} of a HINFO query', async () => {
    const { values } = await labelLine(false);
    expect([values.get('{type}'), values.get('{name}'), values.get('{size}')]).toEqual(['HINFO', 'example.org.', '29']);
  });

  for (const [table, drop, rows] of [['TestLabels', false, labelRows], ['TestNoResponseWasWritten', true, noResponseRows]] as const) {
    it(`${table}: every label`, async () => {
      const { values, clientPort } = await labelLine(drop);
      for (const [label, coredns, live] of rows) {
        const got = values.get(label)!;
        if (label === '{duration}') expect(got, label).toMatch(/^\d+(\.\d+)?s$/); // CoreDNS checks only the trailing s
        else expect(got, label).toBe((live ?? coredns).replace('<client port>', String(clientPort)));
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// replacer_test.go: TestParseFormat, TestParseFormatNodes. CoreDNS compares the parsed nodes; here
// the line a format gives: literals as written, labels replaced, metadata `-` (none published).

type Node = [value: string, kind: 'literal' | 'label' | 'metadata'];
const parseFormatRows: Array<[format: string, nodes: Node[]]> = [
  ["", []],
  ["A", [["A", "literal"]]],
  ["A {A}", [["A {A}", "literal"]]],
  ["{{remote}}", [["{", "literal"], ["{remote}", "label"], ["}", "literal"]]],
  ["{ A {remote} A }", [["{ A ", "literal"], ["{remote}", "label"], [" A }", "literal"]]],
  ["{remote}}", [["{remote}", "label"], ["}", "literal"]]],
  ["{{remote}", [["{", "literal"], ["{remote}", "label"]]],
  ["Foo } {remote}", [["Foo }", "literal"], [" ", "literal"], ["{remote}", "label"]]],
  ["{ Foo", [["{ Foo", "literal"]]],
  ["} Foo", [["}", "literal"], [" Foo", "literal"]]],
  ["A { {remote} {type} {/meta1} } B", [["A { ", "literal"], ["{remote}", "label"], [" ", "literal"], ["{type}", "label"], [" ", "literal"], ["meta1", "metadata"], [" }", "literal"], [" B", "literal"]]],
  [
    "LOG {remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} {/meta1}-{/meta2} {duration} END OF LINE",
    [["LOG ", "literal"], ["{remote}", "label"], [":", "literal"], ["{port}", "label"], [" - ", "literal"], ["{>id}", "label"], [" \"", "literal"], ["{type}", "label"], [" ", "literal"], ["{class}", "label"], [" ", "literal"], ["{name}", "label"], [" ", "literal"], ["{proto}", "label"], [" ", "literal"], ["{size}", "label"], [" ", "literal"], ["{>do}", "label"], [" ", "literal"], ["{>bufsize}", "label"], ["\" ", "literal"], ["{rcode}", "label"], [" ", "literal"], ["{>rflags}", "label"], [" ", "literal"], ["{rsize}", "label"], [" ", "literal"], ["meta1", "metadata"], ["-", "literal"], ["meta2", "metadata"], [" ", "literal"], ["{duration}", "label"], [" END OF LINE", "literal"]],
  ],
];
const nodeFormats: string[] = [
  "", "msg", "{remote}", "{remote}", "{{remote}", "{{remote}}", "{{remote}} A", COMMON, COMMON + " FOO} {BAR}", "A " + COMMON + " FOO} {BAR}", "A " + COMMON + " {/meta}",
];

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The line `nodes` must give, as a regular expression (the duration is any number of seconds). */
function expectedLine(nodes: Node[], values: Record<string, string>): RegExp {
  let re = '';
  for (const [v, kind] of nodes) {
    if (kind === 'literal') re += esc(v);
    else if (kind === 'metadata') re += '-';
    else if (v === '{duration}') re += '\\d+(\\.\\d+)?s';
    else re += esc(values[v] ?? `<no value for ${v}>`);
  }
  return new RegExp(`^${re}$`);
}

/** The nodes of a format, split by hand with CoreDNS's rule (for TestParseFormatNodes' formats). */
function nodesOf(format: string): Node[] {
  const known = new Set(LABELS);
  const out: Node[] = [];
  let s = format;
  for (;;) {
    const j = s.indexOf('}');
    if (j < 0) break;
    const i = s.lastIndexOf('{', j);
    const tag = i < 0 ? '' : s.slice(i, j + 1);
    if (i >= 0 && (known.has(tag) || tag.startsWith('{/'))) {
      if (i > 0) out.push([s.slice(0, i), 'literal']);
      out.push(known.has(tag) ? [tag, 'label'] : [tag.slice(2, -1), 'metadata']);
    } else out.push([s.slice(0, j + 1), 'literal']);
    s = s.slice(j + 1);
  }
  if (s !== '') out.push([s, 'literal']);
  return out;
}

describe('CoreDNS TestParseFormat / TestParseFormatNodes', () => {
  it('has 12 + 11 rows', () => expect([parseFormatRows.length, nodeFormats.length]).toEqual([12, 11]));
  it('TestParseFormatNodes: the nodes join back to the format', () => {
    for (const f of nodeFormats) expect(nodesOf(f).map(([v, k]) => (k === 'metadata' ? `{/${v}}` : v)).join('')).toBe(f);
  });

  const all: Array<[string, Node[]]> = [...parseFormatRows, ...nodeFormats.map((f) => [f, nodesOf(f)] as [string, Node[]])];
  // one server, one rule per format: f<i>.example.org. is logged with format i
  const live = all.map((r, i) => [i, ...r] as const).filter(([, f]) => f.includes('{'));
  const unit = all.map((r, i) => [i, ...r] as const).filter(([, f]) => !f.includes('{'));

  it(`${live.length} formats with a brace, through a server`, async () => {
    const backend = responder('backend', (req, w) => {
      w.write({ type: 'response', questions: [{ name: req.qname, type: 'HINFO', class: 'IN' }] });
      return RCODE.NOERROR;
    });
    const s = await server(corefile(live.map(([i, f]) => stanza(`f${i}.example.org`, f)).join('')), { plugins: [backend] });
    for (const [i, format, nodes] of live) {
      const before = lines(s).length;
      const name = `f${i}.example.org.`;
      const { reply, clientPort } = await ask(s.port, name, 'HINFO', { id: 1053 });
      const m = dnsPacket.decode(reply!);
      const flags = (m.flags ?? 0) | (m.type === 'response' ? FLAG.QR : 0);
      const names: Array<[number, string]> = [[FLAG.QR, 'qr'], [FLAG.AA, 'aa'], [FLAG.TC, 'tc'], [FLAG.RD, 'rd'], [FLAG.RA, 'ra'], [FLAG.Z, 'z'], [FLAG.AD, 'ad'], [FLAG.CD, 'cd']];
      const values: Record<string, string> = {
        '{type}': 'HINFO', '{name}': name, '{class}': 'IN', '{proto}': 'udp', '{size}': String(buildQuery(name, 'HINFO').length),
        '{remote}': '127.0.0.1', '{port}': String(clientPort), '{local}': '127.0.0.1', '{>id}': '1053', '{>opcode}': '0', '{>do}': 'false',
        '{>bufsize}': '512', '{rcode}': 'NOERROR', '{rsize}': String(reply!.length), '{>rflags}': names.filter(([b]) => flags & b).map(([, n]) => n).join(','),
      };
      const got = await waitFor(() => lines(s)[before], { what: `the line for format ${i}` });
      expect(got, `format ${JSON.stringify(format)}`).toMatch(expectedLine(nodes, values));
    }
  });

  it.each(unit.map(([i, f, n]) => [i, f, n] as const))('format %i %j (no brace: compileFormat)', (_i, format, nodes) => {
    const req = fakeRequest('example.org.', 'HINFO');
    expect(compileFormat(format)(req, new Recorder(req), 0)).toMatch(expectedLine(nodes, {}));
  });
});

// ---------------------------------------------------------------------------------------------
// replacer_test.go: TestMetadataReplacement, TestMetadataMalformed. A test plugin publishes the
// labels (CoreDNS's testProvider); the metadata plugin collects them.

const provider = (labels: Record<string, string>): PluginDefinition<Record<string, never>> =>
  definePlugin({
    name: 'backend',
    api: '^1',
    position: { before: 'whoami' },
    parse(d) {
      d.next();
      return {};
    },
    setup: () => ({
      metadata(req) {
        for (const [k, v] of Object.entries(labels)) setMetadata(req, k, () => v);
      },
      serve(req, w) {
        w.write({ type: 'response', questions: [{ name: req.qname, type: 'HINFO', class: 'IN' }] });
        return RCODE.NOERROR;
      },
    }),
  });

const metadataRows: Array<[table: string, expr: string, result: string]> = [
  ["TestMetadataReplacement", "{/test/meta2}", "two"],
  ["TestMetadataReplacement", "{/test/meta2} {/test/key4}", "two -"],
  ["TestMetadataReplacement", "{/test/meta2} {/test/meta3}", "two three"],
  ["TestMetadataMalformed", "{/test/meta2", "{/test/meta2"],
  ["TestMetadataMalformed", "{test/meta2} {/test/meta4}", "{test/meta2} -"],
  ["TestMetadataMalformed", "{test}", "{test}"],
];

describe('CoreDNS TestMetadataReplacement / TestMetadataMalformed', () => {
  it('has 3 + 3 rows', () => expect(metadataRows.length).toBe(6));
  it.each(metadataRows)('%s %j → %j', async (table, expr, result) => {
    // TestMetadataMalformed's provider has test/meta2 only; TestMetadataReplacement's meta2 and meta3
    const labels: Record<string, string> = table === 'TestMetadataMalformed' ? { 'test/meta2': 'two' } : { 'test/meta2': 'two', 'test/meta3': 'three' };
    const s = await server(`.:0 {\n bind 127.0.0.1\n metadata\n${stanza('.', expr)} backend\n}\n`, { plugins: [provider(labels)] });
    await ask(s.port, 'example.org.', 'HINFO');
    expect(await waitFor(() => lines(s)[0])).toBe(result);
  });
});

// ---------------------------------------------------------------------------------------------
// The class a `class` filter sees: CoreDNS's response.Typify + Classify (plugin/pkg/response
// typify_test.go: TestTypifyNilMsg, TestTypifyDelegation, TestTypifyRRSIG ×3, TestTypifyImpossible,
// TestTypifyRefused), then added rows for each remaining Typify rule. One server; rules for
// s.example.org (class success), d.example.org (denial) and e.example.org (error); row i is asked
// as r<i>.s.example.org., r<i>.d.… and r<i>.e.…, and exactly one of the three must be logged.

const SOA = 'example.org. 3600 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 3600';
const delegation = { authorities: ['miek.nl. 3600 IN NS linode.atoom.net.', 'miek.nl. 3600 IN NS ns-ext.nlnetlabs.nl.', 'miek.nl. 3600 IN NS omval.tednet.nl.'], additionals: ['omval.tednet.nl. 3600 IN A 185.49.141.42'] };
const nowS = Math.floor(Date.now() / 1000);
const sig = (inception: number, expiration: number): dnsPacket.Answer =>
  ({ name: 'miek.nl', type: 'RRSIG', ttl: 1800, class: 'IN', data: { typeCovered: 'NS', algorithm: 8, labels: 2, originalTTL: 1800, expiration, inception, keyTag: 12051, signersName: 'miek.nl', signature: Buffer.from('PIUu3TKX', 'base64') } }) as unknown as dnsPacket.Answer;
const valid = sig(nowS - 86400, nowS + 86400); // CoreDNS's row: 2017-04-21..2017-05-21 checked in 2017
const expired = sig(Date.UTC(2016, 3, 21) / 1000, Date.UTC(2016, 4, 21) / 1000);

interface ClassRow {
  name: string;
  /** What the backend does: a reply (rcode + sections), wire bytes of it, or nothing. */
  reply: { rcode?: number; answers?: Array<string | dnsPacket.Answer>; authorities?: Array<string | dnsPacket.Answer>; additionals?: string[]; wire?: boolean } | 'drop' | { unwritten: number };
  do?: boolean;
  cls: 's' | 'd' | 'e';
}

const classRows: ClassRow[] = [
  { name: 'TestTypifyNilMsg: no reply is OtherError (error)', reply: 'drop', cls: 'e' },
  { name: 'TestTypifyDelegation: NS in authority, NOERROR (success)', reply: delegation, cls: 's' },
  { name: 'TestTypifyRRSIG: delegation with a valid RRSIG, DO (success)', reply: { ...delegation, authorities: [...delegation.authorities, valid] }, do: true, cls: 's' },
  { name: 'TestTypifyRRSIG: expired RRSIG without DO is not checked (success)', reply: { ...delegation, authorities: [...delegation.authorities, expired] }, cls: 's' },
  { name: 'TestTypifyRRSIG: expired RRSIG with DO is OtherError (error)', reply: { ...delegation, authorities: [...delegation.authorities, expired] }, do: true, cls: 'e' },
  { name: 'TestTypifyImpossible: NXDOMAIN with an answer, no SOA (error)', reply: { rcode: RCODE.NXDOMAIN, answers: ['bar.www.example.org. 3600 IN CNAME foo.example.org.'] }, cls: 'e' },
  { name: 'TestTypifyRefused: REFUSED (error)', reply: { rcode: RCODE.REFUSED }, cls: 'e' },
  // added: the rest of Typify
  { name: 'added: NOERROR with answers (success)', reply: { answers: ['a.example.org. 3600 IN A 10.0.0.1'] }, cls: 's' },
  { name: 'added: NODATA with the SOA (denial)', reply: { authorities: [SOA] }, cls: 'd' },
  { name: 'added: NOERROR without answers or SOA (success)', reply: {}, cls: 's' },
  { name: 'added: NXDOMAIN with the SOA (denial)', reply: { rcode: RCODE.NXDOMAIN, authorities: [SOA] }, cls: 'd' },
  { name: 'added: NXDOMAIN without SOA (error)', reply: { rcode: RCODE.NXDOMAIN }, cls: 'e' },
  { name: 'added: SERVFAIL (error)', reply: { rcode: RCODE.SERVFAIL, authorities: [SOA] }, cls: 'e' },
  { name: 'added: NXDOMAIN returned unwritten: the server\'s empty reply has no SOA (error)', reply: { unwritten: RCODE.NXDOMAIN }, cls: 'e' },
  { name: 'added: NODATA with the SOA as wire bytes (a cache hit) (denial)', reply: { authorities: [SOA], wire: true }, cls: 'd' },
  { name: 'added: expired RRSIG with DO as wire bytes (error)', reply: { ...delegation, authorities: [...delegation.authorities, expired], wire: true }, do: true, cls: 'e' },
];

describe('CoreDNS response classes (Typify) as log class filters see them', () => {
  it('has 7 CoreDNS rows + 9 added', () => expect(classRows.length).toBe(16));
  it.each(classRows.map((r, i) => [r.name, i, r] as const))('%s', async (_n, i, row) => {
    const backend = responder('backend', (req, w) => {
      const r = row.reply;
      if (r === 'drop') return DROP;
      if ('unwritten' in r) return r.unwritten;
      const m: dnsPacket.Packet = {
        type: 'response',
        id: req.id,
        flags: (r.rcode ?? 0) | FLAG.QR,
        questions: [{ name: req.qname, type: 'A', class: 'IN' }],
        answers: (r.answers ?? []).map((x) => (typeof x === 'string' ? rr(x) : x)),
        authorities: (r.authorities ?? []).map((x) => (typeof x === 'string' ? rr(x) : x)),
        additionals: (r.additionals ?? []).map((x) => rr(x)),
      };
      if (req.edns) m.additionals!.push({ type: 'OPT', name: '.', udpPayloadSize: 4096, flags: req.do ? dnsPacket.DNSSEC_OK : 0 } as dnsPacket.Answer);
      w.write(r.wire ? dnsPacket.encode(m) : (m as never));
      return r.rcode ?? 0;
    });
    const s = await server(corefile(stanza('s.example.org', '{name}', ['success']) + stanza('d.example.org', '{name}', ['denial']) + stanza('e.example.org', '{name}', ['error'])), { plugins: [backend] });
    for (const c of ['s', 'd', 'e']) await ask(s.port, `r${i}.${c}.example.org.`, 'A', row.do ? { edns: true, do: true } : {}, row.reply === 'drop' ? 300 : 2000);
    expect(lines(s)).toEqual([`r${i}.${row.cls}.example.org.`]);
  });
});
