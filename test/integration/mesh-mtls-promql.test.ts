/** The mTLS traffic query is valid PromQL for a real Prometheus, in each of its three scopes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mtlsTrafficQuery } from '../../src/gate/input/promql.js';
import { startPrometheus, type PrometheusServer } from '../../src/sim/prometheus.js';

let prom: PrometheusServer;
beforeAll(async () => {
  prom = await startPrometheus();
});
afterAll(async () => {
  await prom?.close();
});

const plan = (target: string) => ({
  namespace: 'shop',
  source: { destination: { host: 'pcs', subset: 'vm' }, serviceEntry: 'se' },
  target: { destination: { host: target, subset: 'k8s' }, deployment: 'd' },
});

describe('mtlsTrafficQuery against Prometheus', () => {
  it.each([
    ['one host', plan('pcs'), false],
    ['two hosts (a regex over FQDNs with dots)', plan('pcs-k8s'), false],
    ['the whole namespace', plan('pcs'), true],
  ])('%s: accepted by the query engine', async (_name, p, namespaceWide) => {
    const q = mtlsTrafficQuery(p, { namespaceWide, reporter: 'destination', windowMs: 600_000 });
    await expect(prom.query(q)).resolves.toEqual([]);
  });

  it('a single-backslash regex escape would be rejected (the bug this guards against)', async () => {
    await expect(prom.query('sum(istio_requests_total{destination_service=~"pcs\\.shop"})')).rejects.toThrow(
      /unknown escape sequence/,
    );
  });
});
