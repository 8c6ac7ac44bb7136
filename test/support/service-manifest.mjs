// Large Kubernetes manifests for the manifests source: Services in multi-document YAML, generated a
// document at a time (a 50 MB file need not be one string). Plain JavaScript, so that the bench
// scripts (bench/zone-load.mjs) and the tests (plugins/kubernetes/manifests-reload.test.ts) share it.

/**
 * Service documents until about `bytes` are out: svc-<i> in namespace ns-<i % 50> at the address
 * `ipOf(i)` (default 10.96-111.x.y), annotated with `note` (an edited file differs from the old).
 */
export function* serviceDocs(bytes, { note = '', ipOf = serviceIp } = {}) {
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const ip = ipOf(i);
    const doc = `---
apiVersion: v1
kind: Service
metadata:
  name: svc-${i}
  namespace: ns-${i % 50}
  labels:
    app: svc-${i}
    tier: backend
  annotations:
    note: "${note}"
spec:
  type: ClusterIP
  clusterIP: ${ip}
  clusterIPs: [${ip}]
  selector:
    app: svc-${i}
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: 8080
`;
    size += doc.length;
    yield doc;
  }
}

/** The default address of svc-<i>. */
export function serviceIp(i) {
  return `10.${96 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${i & 255}`;
}
