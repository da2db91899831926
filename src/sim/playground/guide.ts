/**
 * What the playground prints once everything runs: where each part is, the dashboard's one-time login, and
 * commands to try. Every command line is a plain `meshshift …` or `kubectl …` command (no pipes, no
 * substitutions), so it works pasted into a shell and the playground's test runs each one as printed.
 */
import { FAULT_ANNOTATION } from './fault.js';

export interface GuideInput {
  dir: string;
  kubeApiUrl: string;
  kubeconfig: string;
  serveUrl: string;
  loginUrl: string;
  loginTtlMin: number;
  prometheus: string;
  redisUrl: string;
  namespace: string;
  service: string;
  serviceEntry: string;
  deployment: string;
  virtualService: string;
  rps: number;
  timeScale: number;
  planFile: string;
  planName: string;
  crFile: string;
  crName: string;
  tokenFile: string;
  logFile: string;
  /** How to run meshshift here, e.g. `node /path/bin/meshshift.js`. */
  meshshift: string;
}

/** Text styles (colour on a terminal); identity functions in tests and without a TTY. */
export interface GuideStyle {
  bold: (s: string) => string;
  dim: (s: string) => string;
}

export function guideLines(g: GuideInput, st: GuideStyle): string[] {
  const ns = `-n ${g.namespace}`;
  const scale = g.timeScale === 1 ? 'real durations' : `policy durations ×${g.timeScale}`;
  return [
    `${st.bold('meshshift playground')}: everything below runs on 127.0.0.1 until you press Ctrl-C`,
    `  Kubernetes API (test server)  ${g.kubeApiUrl}  kubeconfig ${g.kubeconfig}`,
    `  mesh (simulated)              ${g.service} in namespace ${g.namespace}, ${g.rps} req/s: VMs (ServiceEntry ${g.serviceEntry}) → Deployment ${g.deployment}`,
    `  Prometheus                    ${g.prometheus}`,
    `  Redis                         ${g.redisUrl}`,
    `  API, workers, controller      ${g.serveUrl} (meshshift serve --role all, with the dashboard; ${scale}; log ${g.logFile})`,
    '',
    `${st.bold('Dashboard')} (one-time login link, valid ${g.loginTtlMin} min; it signs in one browser):`,
    `  ${g.loginUrl}`,
    '',
    `${st.bold('Try')}, in another terminal:`,
    `  export KUBECONFIG=${g.kubeconfig} MESHSHIFT_SERVER=${g.serveUrl}`,
    `  alias meshshift='${g.meshshift}'`,
    '',
    st.dim('  # 1. submit a plan and follow it until it ends (and in the dashboard); list what runs'),
    `  meshshift submit ${g.planFile} --token-file ${g.tokenFile} -w`,
    `  meshshift list`,
    '',
    st.dim(
      '  # 2. while it runs, a bad build: the containers fail 30 % of requests and the gate rolls it back;',
    ),
    st.dim('  #    the weights in the cluster, then heal the containers'),
    `  kubectl annotate deployment ${g.deployment} ${ns} ${FAULT_ANNOTATION}=0.3 --overwrite`,
    `  kubectl get virtualservice ${g.virtualService} ${ns} -o jsonpath='{.spec.http[0].route[*].weight}'`,
    `  kubectl annotate deployment ${g.deployment} ${ns} ${FAULT_ANNOTATION}-`,
    '',
    st.dim(
      '  # 3. GitOps: a MigrationPlan object, run by the controller (once the first migration has ended)',
    ),
    `  kubectl apply -f ${g.crFile}`,
    `  kubectl get mp ${ns} -w`,
    '',
    st.dim(`  # 4. abort it from the dashboard: open ${g.crName}, press Abort…, give a reason; then`),
    `  kubectl get mp ${g.crName} ${ns}`,
    `  kubectl describe mp ${g.crName} ${ns}`,
    '',
    st.dim(`  (files: ${g.dir}; plan ${g.planName}: ${g.planFile})`),
  ];
}
