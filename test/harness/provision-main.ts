/**
 * `node --import tsx test/harness/provision-main.ts`: the test suite's tool check on its own, as `.ci/run` runs it
 * before the tests: installs what is missing (root on Debian/Ubuntu) and lists where each program is, or exits 1
 * with the command to run.
 */
import { findTool, TOOL_NAMES } from '../../src/sim/tools.js';
import { ensureTestTools } from './provision.js';

try {
  ensureTestTools();
  if (process.argv.includes('--list')) {
    for (const t of TOOL_NAMES) process.stdout.write(`${t}: ${findTool(t)}\n`);
  }
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
}
