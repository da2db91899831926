/**
 * A virtual clock for the runner: timers fire only when the driver advances time, so a 20-minute migration runs
 * in as long as its I/O takes. Fits src/runner/clock.ts.
 */
import type { Clock } from '../../src/engine/clock.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

export class VirtualClock implements Clock {
  private timers: Timer[] = [];
  private nextId = 1;

  constructor(private current: number) {}

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const t = { id: this.nextId++, at: this.current + Math.max(0, ms), fn };
    this.timers.push(t);
    return t.id;
  }

  clearTimeout(id: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== id);
  }

  /** When the earliest pending timer is due, or undefined when nothing is scheduled. */
  nextDue(): number | undefined {
    let min: number | undefined;
    for (const t of this.timers) if (min === undefined || t.at < min) min = t.at;
    return min;
  }

  /** Moves time forward to `at` (never back) and fires every timer due by then, earliest first. */
  advanceTo(at: number): void {
    this.current = Math.max(this.current, at);
    for (;;) {
      const due = this.timers.filter((t) => t.at <= this.current).sort((a, b) => a.at - b.at || a.id - b.id);
      const first = due[0];
      if (!first) return;
      this.timers = this.timers.filter((t) => t !== first);
      first.fn();
    }
  }
}
