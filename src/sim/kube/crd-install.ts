/** Installing a CustomResourceDefinition at server start, checked as one applied through the API would be. */
import { checkCrd, crdStatus } from './crd.js';
import { asKubeObject, jsonClone, type UnknownRecord } from './json.js';
import type { KubeStore } from './store.js';
import type { KubeObject } from './types.js';

export function installCrd(store: KubeStore, input: KubeObject | UnknownRecord): void {
  const crd = asKubeObject(jsonClone(input) as UnknownRecord);
  const rt = store.typeOrThrow('apiextensions.k8s.io', 'customresourcedefinitions');
  checkCrd(rt, crd, store.types);
  crd.status = crdStatus(crd);
  store.put(crd);
}
