/** Where a migration's persisted xstate snapshot lives between process restarts. */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface SnapshotStore {
  load(id: string): Promise<unknown | undefined>;
  save(id: string, snapshot: unknown): Promise<void>;
}

/** One JSON file per migration, written atomically (temp file + rename). */
export class FileSnapshotStore implements SnapshotStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }
  private file(id: string) {
    return path.join(this.dir, `${id.replace(/[^a-zA-Z0-9._-]/g, '_')}.json`);
  }
  async load(id: string) {
    try {
      return JSON.parse(readFileSync(this.file(id), 'utf8')) as unknown;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`cannot read saved state for ${id}: ${(err as Error).message}`);
    }
  }
  async save(id: string, snapshot: unknown) {
    const f = this.file(id);
    const tmp = `${f}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(snapshot));
    renameSync(tmp, f);
  }
}

export class MemorySnapshotStore implements SnapshotStore {
  readonly data = new Map<string, string>();
  async load(id: string) {
    const s = this.data.get(id);
    return s === undefined ? undefined : (JSON.parse(s) as unknown);
  }
  async save(id: string, snapshot: unknown) {
    this.data.set(id, JSON.stringify(snapshot));
  }
}
