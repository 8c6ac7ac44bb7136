// The answers served from the cluster's copy as bytes (bytes.ts) are the store's: the CoreDNS
// compatibility table, the socket tests of the plugin and k8s_external's tests, run again with
// TYPEDNS_K8S_VIEW=bytes (the plugin answers from a ByteClusterView that a ClusterBytesWriter
// keeps up to date after each of the store's commits).
process.env.TYPEDNS_K8S_VIEW = 'bytes';
await import('./coredns-compat.test.js');
await import('./kubernetes.test.js');
await import('../k8s_external/k8s_external.test.js');
