/**
 * The Lua scripts in `./lua/*.lua`, loaded once from files next to this module (the build copies them into
 * dist) and run with EVALSHA, falling back to EVAL when Redis does not have the script cached (a restart,
 * SCRIPT FLUSH, another node).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RedisClient } from './redis-connection.js';

const LUA_DIR = new URL('./lua/', import.meta.url);

export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly lua: string,
    /** How many keys it takes, or the fewest and the most for a script with optional keys. */
    readonly numberOfKeys: number | readonly [min: number, max: number],
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: RedisClient, keys: string[], args: Array<string | number>): Promise<unknown> {
    const [min, max] =
      typeof this.numberOfKeys === 'number' ? [this.numberOfKeys, this.numberOfKeys] : this.numberOfKeys;
    if (keys.length < min || keys.length > max)
      throw new Error(
        `script ${this.name} takes ${min === max ? min : `${min}–${max}`} keys, got ${keys.length}`,
      );
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}

export function loadScript(name: string, numberOfKeys: LuaScript['numberOfKeys']): LuaScript {
  const file = new URL(`${name}.lua`, LUA_DIR);
  let lua: string;
  try {
    lua = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read the Lua script ${fileURLToPath(file)} (${(err as Error).message}): ` +
        'the build must copy src/store/lua next to the compiled store (npm run build does)',
    );
  }
  return new LuaScript(name, lua, numberOfKeys);
}

/** Every script, by the name of its file. */
export const scripts = {
  leaseExtend: loadScript('lease-extend', 1),
  leaseRelease: loadScript('lease-release', 1),
  leaseHset: loadScript('lease-hset', 2),
  acquire: loadScript('migration-acquire', 2),
  fence: loadScript('migration-fence', 2),
  stepFailed: loadScript('migration-step-failed', 2),
  create: loadScript('migration-create', 5),
  commit: loadScript('migration-commit', 9),
  forget: loadScript('migration-forget', 9),
  takeSlot: loadScript('slot-take', 2),
  routeClaim: loadScript('route-claim', 1),
  commandPush: loadScript('command-push', [1, 2]),
};
