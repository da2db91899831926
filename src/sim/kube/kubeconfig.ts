/** Client configuration for the test server: a KubeConfig object, the same as YAML, and a file for kubectl. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify as stringifyYaml } from 'yaml';

export function kubeConfigFor(url: string, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'meshshift-test', server: url, skipTLSVerify: true }],
    users: [{ name: 'meshshift-test', token }],
    contexts: [{ name: 'meshshift-test', cluster: 'meshshift-test', user: 'meshshift-test' }],
    currentContext: 'meshshift-test',
  });
  return kc;
}

export function kubeconfigYamlFor(url: string, token: string): string {
  return stringifyYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'meshshift-test', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'meshshift-test', user: { token } }],
    contexts: [{ name: 'meshshift-test', context: { cluster: 'meshshift-test', user: 'meshshift-test' } }],
    'current-context': 'meshshift-test',
  });
}

/** Writes `<dir>/kubeconfig-<port>.yaml` (mode 0600; port-suffixed so servers can share a dir). */
export function writeKubeconfigFile(dir: string, port: number, yaml: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `kubeconfig-${port}.yaml`);
  writeFileSync(file, yaml, { mode: 0o600 });
  return file;
}
