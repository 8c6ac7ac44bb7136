declare module 'dns-packet/types.js' {
  export function toString(type: number): string;
  export function toType(name: string): number;
  const _default: { toString: typeof toString; toType: typeof toType };
  export default _default;
}
declare module 'dns-packet/rcodes.js' {
  export function toString(rcode: number): string;
  export function toRcode(name: string): number;
  const _default: { toString: typeof toString; toRcode: typeof toRcode };
  export default _default;
}
