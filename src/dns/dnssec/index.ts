// DNSSEC signing primitives shared by the dnssec and sign plugins and the file plugin.
export { ALGORITHMS, dnskeyRdata, dsDigest, dsRdata, isKsk, isZsk, keyBase, keyTag, parsePublicKey, readKeyPair, signingKey, type SigningKey } from './keys.js';
export { canonicalWire, nsecRecord, rdataOf, rrType, signedData, signRRset, sigLabels, typeBitmap, typeString, type RrsigFields, type SignOptions } from './sign.js';
