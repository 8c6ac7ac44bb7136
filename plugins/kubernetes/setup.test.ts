import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePlugin, startServer } from '../../src/testing/index.js';
import kubernetes from './index.js';

const parse = (text: string, zones: string[] = ['cluster.local.']) => parsePlugin(kubernetes, text, zones);

describe('kubernetes parse', () => {
  it('defaults', () => {
    const c = parse('kubernetes');
    expect(c.zones).toEqual(['cluster.local.']);
    expect(c.ttl).toBe(5);
    expect(c.pods).toBe('disabled');
    expect(c.startupTimeout).toBe(5000);
    expect(c.fall.enabled).toBe(false);
  });
  it('the kubeadm stanza and every option', () => {
    const c = parse(`kubernetes cluster.local in-addr.arpa ip6.arpa {
      endpoint https://10.0.0.1:6443 https://ignored:6443
      tls cert.pem key.pem ca.pem
      kubeconfig kube.conf prod
      namespaces shop data
      labels environment in (staging, qa),application=nginx
      pods insecure
      endpoint_pod_names
      ttl 30
      noendpoints
      fallthrough in-addr.arpa ip6.arpa
      ignore empty_service
      apiserver_qps 50.5
      apiserver_burst 100
      apiserver_max_inflight 0
      startup_timeout 10s
      manifests examples/cluster
    }`);
    expect(c.zones).toEqual(['cluster.local.', 'in-addr.arpa.', 'ip6.arpa.']);
    expect(c.primaryZone).toBe('cluster.local.');
    expect(c.endpoint).toBe('https://10.0.0.1:6443');
    expect(c.tls).toEqual({ cert: 'cert.pem', key: 'key.pem', ca: 'ca.pem' });
    expect(c.kubeconfig).toEqual({ file: 'kube.conf', context: 'prod' });
    expect(c.namespaces).toEqual(['shop', 'data']);
    expect(c.labels).toBe('environment in (staging, qa),application=nginx');
    expect(c.pods).toBe('insecure');
    expect(c.endpointPodNames && c.noEndpoints && c.ignoreEmptyService).toBe(true);
    expect(c.ttl).toBe(30);
    expect(c.fall.through('1.0.0.10.in-addr.arpa.')).toBe(true);
    expect(c.fall.through('x.cluster.local.')).toBe(false);
    expect([c.apiserverQps, c.apiserverBurst, c.apiserverMaxInflight]).toEqual([50.5, 100, 0]);
    expect(c.startupTimeout).toBe(10_000);
    expect(c.manifests).toBe('examples/cluster');
  });
  it('reverse CIDR zones are accepted next to a forward zone', () => {
    expect(parse('kubernetes cluster.local 10.0.0.0/24').zones).toEqual(['cluster.local.', '0.0.10.in-addr.arpa.']);
  });

  const errors: Array<[string, RegExp]> = [
    ['kubernetes cluster.local {\n  foo bar\n}', /Testfile:2 .*unknown property 'foo'/],
    ['kubernetes cluster.local {\n  upstream\n}', /Testfile:2 .*unknown property 'upstream'/],
    ['kubernetes in-addr.arpa', /Testfile:1 .*non-reverse zone name must be used/],
    ['kubernetes {\n  namespaces a\n  namespace_labels x=y\n}', /Testfile:3 .*namespaces and namespace_labels cannot both be set/],
    ['kubernetes {\n  namespace_labels x=y\n  namespaces a\n}', /Testfile:3 .*cannot both be set/],
    ['kubernetes {\n  ttl 3601\n}', /Testfile:2 .*ttl must be in range \[0, 3600\]: 3601/],
    ['kubernetes {\n  ttl -1\n}', /Testfile:2 .*ttl must be in range/],
    ['kubernetes {\n  ttl\n}', /Testfile:2 .*wrong argument count/],
    ['kubernetes {\n  pods maybe\n}', /Testfile:2 .*invalid value for pods: maybe/],
    ['kubernetes {\n  ignore things\n}', /Testfile:2 .*unable to parse ignore value: 'things'/],
    ['kubernetes {\n  tls a b\n}', /Testfile:2 .*wrong argument count/],
    ['kubernetes {\n  kubeconfig\n}', /Testfile:2 .*wrong argument count/],
    ['kubernetes {\n  namespaces\n}', /Testfile:2 .*wrong argument count/],
    ['kubernetes {\n  labels a in (b\n}', /Testfile:2 .*unable to parse label selector value/],
    ['kubernetes {\n  apiserver_qps -1\n}', /Testfile:2 .*apiserver_qps must be a number >= 0/],
    ['kubernetes {\n  startup_timeout soon\n}', /Testfile:2 .*invalid startup_timeout/],
    ['kubernetes {\n  noendpoints please\n}', /Testfile:2 .*unexpected argument 'please'/],
    ['kubernetes {\n  multicluster clusterset.local\n}', /Testfile:2 .*'multicluster' is not supported/],
  ];
  for (const [text, re] of errors) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      expect(() => parse(text)).toThrow(re);
    });
  }

  it('once per server block; bad manifests fail start-up with file:line', async () => {
    await expect(startServer('cluster.local:0 {\n  bind 127.0.0.1\n  kubernetes\n  kubernetes\n}')).rejects.toThrow(/Corefile:4 .*only be used once/);
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-k8s-bad-'));
    try {
      fs.writeFileSync(path.join(d, 'a.yaml'), 'kind: Service\nmetadata:\n  name: [x\n');
      await expect(startServer(`cluster.local:0 {\n  bind 127.0.0.1\n  kubernetes {\n    manifests ${d}\n  }\n}`)).rejects.toThrow(/a\.yaml:\d+/);
      await expect(startServer(`cluster.local:0 {\n  bind 127.0.0.1\n  kubernetes {\n    manifests ${d}/missing\n  }\n}`)).rejects.toThrow(/no such file/);
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
