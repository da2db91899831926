/** `node --import tsx test/harness/provision-main.ts`: the test suite's tool check on its own (exit 1 + the command). */
import { ensureTestTools } from './provision.js';

try {
  ensureTestTools();
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
}
