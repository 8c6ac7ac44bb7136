// metadata: starts per-query metadata for the queries in its zones and asks every plugin of the
// block that publishes labels (Plugin.metadata) before the rest of the chain runs (CoreDNS's
// metadata plugin). Plugins that publish while they serve (forward/upstream) need it too.
import { definePlugin, startMetadata, Zones, type Dispenser, type MetadataCollector, type Plugin, type Request } from '../../src/plugin/api.js';

export interface MetadataConfig {
  zones: string[];
}

export interface MetadataPlugin extends Plugin, MetadataCollector {}

export default definePlugin<MetadataConfig>({
  name: 'metadata',
  api: '^1',
  once: true,
  parse(d: Dispenser, blockZones) {
    d.next();
    const zones = [...Zones.from(d.remainingArgs(), blockZones).list];
    if (d.nextBlock()) throw d.unknownProperty();
    return { zones };
  },
  setup(cfg, ctx): MetadataPlugin {
    const zones = Zones.from(cfg.zones, cfg.zones);
    let providers: Plugin[] = [];
    ctx.onStartup(() => {
      providers = ctx.plugins().map((p) => p.plugin).filter((p) => typeof p.metadata === 'function');
    });
    const collect = (req: Request): void => {
      if (zones.match(req.name) === undefined) return;
      startMetadata(req);
      for (const p of providers) p.metadata!(req);
    };
    return {
      collect,
      serve(req, w, next) {
        collect(req);
        return next(req, w);
      },
    };
  },
});
