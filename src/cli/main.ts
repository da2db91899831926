/** The meshshift command line. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { createLogger } from '../log/logger.js';
import { validateFiles } from './validate.js';
import { registerServiceCommands } from './service-commands.js';
import { registerDoctorCommand } from '../doctor/command.js';

function version(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    return '0.0.0';
  }
}

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number, e.g. 0.05');
  return n;
}

function whoami(): string {
  try {
    return process.env.MESHSHIFT_USER ?? userInfo().username;
  } catch {
    return 'cli';
  }
}

async function playground(o: { timeScale?: number; port?: number; prometheusBin?: string }): Promise<number> {
  const { runPlayground } = await import('../sim/playground/run.js');
  const code = await runPlayground(o);
  // Whatever lingers after the bounded shutdown must not keep the process alive.
  setTimeout(() => process.exit(code), 1000).unref();
  return code;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const setCode = (c: number) => (code = c);
  const program = new Command()
    .name('meshshift')
    .description(
      'Move a workload from VMs into Kubernetes without an outage: progressive Istio traffic shifting gated on Prometheus.',
    )
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  registerFileCommands(program, setCode);
  registerRunCommand(program, setCode);
  registerDemoCommands(program, setCode);
  registerServiceCommands(program, setCode);
  registerDoctorCommand(program, setCode);

  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help')
      return 0;
    return e.exitCode ?? 1;
  }
  return code;
}

/** `validate` and `crd`: no cluster needed. */
function registerFileCommands(program: Command, setCode: (code: number) => void): void {
  program
    .command('validate')
    .description(
      'validate MigrationPlan and Policy files (no cluster needed); exit 0 if all are valid, 1 otherwise',
    )
    .argument('<files...>', 'YAML files')
    .option('--policies <dir>', 'folder with policy YAML files (default: the shipped policies/)')
    .action((files: string[], o: { policies?: string }) => {
      setCode(
        validateFiles(
          files,
          o,
          (s) => process.stdout.write(`${s}\n`),
          (s) => process.stderr.write(`${s}\n`),
        ),
      );
    });

  program
    .command('crd')
    .description('print the MigrationPlan CustomResourceDefinition (generated from the plan schema) as YAML')
    .action(async () => {
      const { migrationPlanCrdYaml } = await import('../controller/crd-schema.js');
      process.stdout.write(migrationPlanCrdYaml());
    });
}

/** `run`: one migration in the foreground (src/cli/run.ts). */
function registerRunCommand(program: Command, setCode: (code: number) => void): void {
  program
    .command('run')
    .description('run one migration in the foreground; exit 0 completed, 2 rolled back or aborted, 1 error')
    .argument('<plan>', 'MigrationPlan YAML file')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--context <name>', 'kubeconfig context')
    .requiredOption(
      '--prometheus <url>',
      'Prometheus base URL, e.g. http://prometheus.istio-system:9090',
      process.env.MESHSHIFT_PROMETHEUS_URL,
    )
    .addOption(
      new Option('--output <format>', 'text for people, json for one event per line')
        .choices(['text', 'json'])
        .default(process.stdout.isTTY ? 'text' : 'json'),
    )
    .option('--policies <dir>', 'folder with policy YAML files')
    .option('--state-dir <dir>', 'persist the migration state here; running again resumes where it stopped')
    .addOption(
      new Option('--on-interrupt <action>', 'on Ctrl-C/SIGTERM: roll back (abort) or leave the weight (hold)')
        .choices(['abort', 'hold'])
        .default('abort'),
    )
    .addOption(
      new Option('--time-scale <factor>', 'compress the policy time scale (demos/tests), e.g. 0.05')
        .argParser(positiveNumber)
        .default(1),
    )
    .option('--user <name>', 'name recorded for commands typed on stdin', whoami())
    .action(
      async (
        planFile: string,
        o: {
          kubeconfig?: string;
          context?: string;
          prometheus: string;
          output: 'text' | 'json';
          policies?: string;
          stateDir?: string;
          onInterrupt: 'abort' | 'hold';
          timeScale: number;
          user: string;
        },
      ) => {
        const logger = createLogger({ level: process.stderr.isTTY ? 'warn' : 'info' });
        const { runCommand } = await import('./run.js');
        setCode(
          await runCommand(planFile, o, {
            stdout: process.stdout,
            stderr: process.stderr,
            stdin: process.stdin,
            logger,
          }),
        );
      },
    );
}

/** `demo` and `playground`: the simulated world (src/sim), loaded only when one of them runs. */
function registerDemoCommands(program: Command, setCode: (code: number) => void): void {
  program
    .command('demo')
    .description(
      'run a simulated mesh in-process: one healthy migration, then one with a regression that rolls back',
    )
    .option('--prometheus-bin <path>', 'Prometheus binary (default: prometheus on PATH)')
    .addOption(new Option('--output <format>').choices(['text', 'json']).default('text'))
    .option('--verbose', 'print every analysis, not only one line per step')
    .option('--serve', 'keep a simulated cluster and `serve` running to try things: the playground')
    .action(
      async (o: { prometheusBin?: string; output: 'text' | 'json'; verbose?: boolean; serve?: boolean }) => {
        // Loaded on demand: the simulated cluster, mesh and Prometheus launcher are only needed here.
        if (o.serve) return void setCode(await playground(o));
        const { runDemo } = await import('../sim/demo/run.js');
        setCode(await runDemo(o));
      },
    );

  program
    .command('playground')
    .description(
      'a simulated cluster, mesh, Prometheus, Redis and `serve --role all` running until Ctrl-C, with a dashboard login and commands to try',
    )
    .option('--time-scale <factor>', 'compress policy durations (1 = real durations)', positiveNumber, 0.05)
    .option('--port <port>', 'port of the API and dashboard (default: any free one)', Number, 0)
    .option('--prometheus-bin <path>', 'Prometheus binary (default: prometheus on PATH)')
    .action(async (o: { timeScale: number; port: number; prometheusBin?: string }) => {
      setCode(await playground(o));
    });
}
