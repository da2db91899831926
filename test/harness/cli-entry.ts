/** Runs the real meshshift CLI under tsx (worker child processes in the service tests). */
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv);
