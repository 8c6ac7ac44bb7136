// The types of service-manifest.mjs.
export function serviceDocs(bytes: number, o?: { note?: string; ipOf?: (i: number) => string }): Generator<string, void, undefined>;
export function serviceIp(i: number): string;
