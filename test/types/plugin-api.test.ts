// Locks the public "typedns/plugin" surface: a change that breaks a plugin author's code fails
// `tsc --noEmit` (npm test runs it first) or these expectTypeOf checks. 'typedns/plugin' resolves
// to src/plugin/api.ts through tsconfig "paths" (the same module package.json exports, built).
import { describe, expectTypeOf, it, expect } from 'vitest';
import type * as Pub from 'typedns/plugin';
import type * as PubTesting from 'typedns/testing';
import * as api from '../../src/plugin/api.js';
import * as testing from '../../src/testing/index.js';

type Def<C> = Pub.PluginDefinition<C>;

describe('typedns/plugin types', () => {
  it('the package path and the source module are the same surface', () => {
    expectTypeOf<typeof Pub.definePlugin>().toEqualTypeOf(api.definePlugin);
    expectTypeOf<typeof Pub.WrappedWriter>().toEqualTypeOf(api.WrappedWriter);
    expectTypeOf<typeof PubTesting.startServer>().toEqualTypeOf(testing.startServer);
    expect(typeof api.definePlugin).toBe('function');
  });

  it('definePlugin infers the config type from parse into setup', () => {
    const def = api.definePlugin({
      name: 'typed',
      api: '^1',
      position: { before: 'whoami' },
      parse(d) {
        d.next();
        return { ttl: 30, names: new Map<string, string[]>(), fall: api.Fall.none };
      },
      setup(cfg, ctx) {
        expectTypeOf(cfg).toEqualTypeOf<{ ttl: number; names: Map<string, string[]>; fall: api.Fall }>();
        expectTypeOf(ctx).toEqualTypeOf<Pub.SetupContext>();
        return {
          serve(req, w, next) {
            expectTypeOf(req).toEqualTypeOf<Pub.Request>();
            expectTypeOf(w).toEqualTypeOf<Pub.ResponseWriter>();
            expectTypeOf(next).toEqualTypeOf<Pub.Next>();
            return next(req, w);
          },
        };
      },
    });
    expectTypeOf(def).toEqualTypeOf<Def<{ ttl: number; names: Map<string, string[]>; fall: api.Fall }>>();
    // an explicit type argument is checked against parse's return
    // @ts-expect-error parse returns a number where the config is a string
    api.definePlugin<string>({ name: 'x', api: '^1', parse: () => 1, setup: () => ({}) });
  });

  it('PluginDefinition', () => {
    expectTypeOf<Def<number>['name']>().toEqualTypeOf<string>();
    expectTypeOf<Def<number>['api']>().toEqualTypeOf<string>();
    expectTypeOf<Def<number>['once']>().toEqualTypeOf<boolean | undefined>();
    expectTypeOf<Def<number>['position']>().toEqualTypeOf<{ readonly before: string } | { readonly after: string } | undefined>();
    expectTypeOf<Def<number>['parse']>().toEqualTypeOf<(d: Pub.Dispenser, zones: readonly string[]) => number>();
    expectTypeOf<Def<number>['setup']>().toEqualTypeOf<(config: number, ctx: Pub.SetupContext) => Pub.MaybePromise<Pub.Plugin>>();
  });

  it('Request fields', () => {
    type R = Pub.Request;
    expectTypeOf<R['name']>().toEqualTypeOf<string>();
    expectTypeOf<R['qname']>().toEqualTypeOf<string>();
    expectTypeOf<R['qtype']>().toEqualTypeOf<number>();
    expectTypeOf<R['qclass']>().toEqualTypeOf<number>();
    expectTypeOf<R['id']>().toEqualTypeOf<number>();
    expectTypeOf<R['zone']>().toEqualTypeOf<string>();
    expectTypeOf<R['transport']>().toEqualTypeOf<'udp' | 'tcp'>();
    expectTypeOf<R['client']>().toEqualTypeOf<Pub.Client>();
    expectTypeOf<Pub.Client>().toEqualTypeOf<{ readonly ip: string; readonly port: number; readonly family: 4 | 6 }>();
    expectTypeOf<R['do']>().toEqualTypeOf<boolean>();
    expectTypeOf<R['edns']>().toEqualTypeOf<boolean>();
    expectTypeOf<R['size']>().toEqualTypeOf<number>();
    expectTypeOf<R['msg']>().toEqualTypeOf<Pub.Message>();
    expectTypeOf<R['wire']>().toEqualTypeOf<Uint8Array>();
    expectTypeOf<R['withQuestion']>().parameters.toEqualTypeOf<[name: string, qtype: number, qclass?: number]>();
    expectTypeOf<R['withQuestion']>().returns.toEqualTypeOf<R>();
    expectTypeOf<R['withFlags']>().toEqualTypeOf<(flags: number) => R>();
    expectTypeOf<R['withBufsize']>().toEqualTypeOf<(size: number) => R>();
    // read-only: a plugin cannot assign to the request
    const r = {} as R;
    // @ts-expect-error name is readonly
    r.name = 'x.';
  });

  it('ResponseWriter, Next, Plugin, Rcode', () => {
    type W = Pub.ResponseWriter;
    expectTypeOf<W['write']>().toEqualTypeOf<(res: Pub.Message | Uint8Array) => void>();
    expectTypeOf<W['written']>().toEqualTypeOf<boolean>();
    expectTypeOf<W['rcode']>().toEqualTypeOf<number>();
    expectTypeOf<Pub.Next>().toEqualTypeOf<(req: Pub.Request, w: W) => Pub.MaybePromise<Pub.Rcode>>();
    expectTypeOf<Pub.MaybePromise<number>>().toEqualTypeOf<number | Promise<number>>();
    expectTypeOf<Pub.Plugin['serve']>().toEqualTypeOf<((req: Pub.Request, w: W, next: Pub.Next) => Pub.MaybePromise<Pub.Rcode>) | undefined>();
    expectTypeOf<Pub.Plugin['ready']>().toEqualTypeOf<(() => boolean) | undefined>();
    expectTypeOf<Pub.Plugin['close']>().toEqualTypeOf<(() => Pub.MaybePromise<void>) | undefined>();
    // WrappedWriter is a ResponseWriter with the wrapped one in `inner`
    expectTypeOf<api.WrappedWriter>().toMatchTypeOf<W>();
    expectTypeOf<api.WrappedWriter['inner']>().toEqualTypeOf<W>();
  });

  it('SetupContext', () => {
    type C = Pub.SetupContext;
    expectTypeOf<C['zones']>().toEqualTypeOf<readonly string[]>();
    expectTypeOf<C['log']>().toEqualTypeOf<Pub.Logger>();
    expectTypeOf<C['metrics']>().toEqualTypeOf<Pub.Metrics>();
    expectTypeOf<C['slot']>().toEqualTypeOf<<T>() => Pub.Slot<T>>();
    expectTypeOf<Pub.Slot<number>['get']>().returns.toEqualTypeOf<number | undefined>();
    expectTypeOf<C['onStartup']>().parameter(0).toEqualTypeOf<() => Pub.MaybePromise<void>>();
    expectTypeOf<C['onShutdown']>().parameter(0).toEqualTypeOf<() => Pub.MaybePromise<void>>();
    expectTypeOf<C['process']>().toEqualTypeOf<Pub.ProcessState>();
    expectTypeOf<C['root']>().toEqualTypeOf<string>();
    expectTypeOf<C['lookup']>().toEqualTypeOf<(req: Pub.Request, name: string, qtype: number) => Promise<Pub.Message>>();
    expectTypeOf<Pub.Metrics['counter']>().returns.toEqualTypeOf<Pub.Counter>();
    expectTypeOf<Pub.Logger['child']>().returns.toEqualTypeOf<Pub.Logger>();
  });

  it('helpers', () => {
    expectTypeOf(api.reply).parameters.toEqualTypeOf<[req: Pub.Request, answers: Pub.RR[], o?: Pub.ReplyOptions]>();
    expectTypeOf(api.reply).returns.toEqualTypeOf<Pub.Message>();
    expectTypeOf(api.rr).toEqualTypeOf<(text: string) => Pub.RR>();
    expectTypeOf(api.RCODE.NXDOMAIN).toEqualTypeOf<3>();
    expectTypeOf(api.QTYPE.AAAA).toEqualTypeOf<28>();
    expectTypeOf(api.Fall.from).toEqualTypeOf<(args: readonly string[]) => api.Fall>();
    expectTypeOf<api.Fall['through']>().toEqualTypeOf<(name: string) => boolean>();
    expectTypeOf(api.Zones.from).toEqualTypeOf<(args: readonly string[], blockZones: readonly string[]) => api.Zones>();
    expectTypeOf<api.Zones['match']>().toEqualTypeOf<(name: string) => string | undefined>();
    expectTypeOf(api.parseCidr).returns.toEqualTypeOf<Pub.Cidr | undefined>();
    expectTypeOf<Pub.Dispenser['err']>().returns.toEqualTypeOf<Pub.CorefileError>();
    expectTypeOf<Pub.Dispenser['remainingArgs']>().returns.toEqualTypeOf<string[]>();
    expectTypeOf<Pub.Dispenser['nextBlock']>().toEqualTypeOf<(level?: number) => boolean>();
  });

  it('typedns/testing', () => {
    expectTypeOf(testing.fakeRequest).returns.toMatchTypeOf<Pub.Request>();
    expectTypeOf<testing.Recorder>().toMatchTypeOf<Pub.ResponseWriter>();
    expectTypeOf(testing.nextReturning).returns.toMatchTypeOf<Pub.Next>();
    expectTypeOf(testing.nextReturning(0).calls).toEqualTypeOf<number>();
    expectTypeOf(testing.parsePlugin<number>).returns.toEqualTypeOf<number>();
    expectTypeOf(testing.testContext).returns.toMatchTypeOf<Pub.SetupContext>();
    expectTypeOf(testing.startServer).returns.resolves.toEqualTypeOf<PubTesting.TestServer>();
  });
});
