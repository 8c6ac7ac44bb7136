// dns-packet exports its record and name codecs; @types/dns-packet does not declare them.
import type { Answer } from 'dns-packet';

declare module 'dns-packet' {
  export const answer: {
    encode(a: Answer, buf?: Buffer, offset?: number): Buffer;
    decode(buf: Buffer, offset?: number): Answer;
    encodingLength(a: Answer): number;
  };
  export const name: {
    encode(n: string, buf?: Buffer, offset?: number): Buffer;
    decode(buf: Buffer, offset?: number): string;
    encodingLength(n: string): number;
  };
}
