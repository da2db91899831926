/**
 * The noise real meshes have, for the decisions benchmark (issue 19): each family's parameters are drawn per
 * seed from ranges (not one fixed setting), from a generator of their own so every policy meets the same traffic.
 *
 *  - sideSigma: each side's error rate × a log-normal factor per 10-s slot, independently (bursty errors).
 *  - podSigma: each pod's error rate × its own factor per 10-s slot.
 *  - blips: both sides fail × `factor` for `seconds` seconds at random (a shared dependency).
 *  - vmScrape / podScrapeMs: the VMs' scrape job at its own interval and phase.
 *  - slowdowns: both sides' latency × `factor` for `minutes` minutes at random (a shared dependency gets slow).
 *  - leakPerHour: the containers' error rate grows by this multiple per hour after the regression starts.
 */
import { Rng, streamSeed } from './random.js';

export interface Noise {
  sideSigma?: number;
  podSigma?: number;
  blips?: { perSecond: number; factor: number; seconds: number };
  slowdowns?: { perMinute: number; factor: number; minutes: number };
  vmScrape?: { everyMs: number; offsetMs: number };
  podScrapeMs?: number;
}

export type NoiseDraw = (r: Rng) => Noise;

export const uniform = (r: Rng, lo: number, hi: number) => lo + (hi - lo) * r.next();

/** The noise of one scenario's seed (the same for every policy; unrelated to other scenarios' draws). */
export function drawNoise(draw: NoiseDraw | undefined, seed: number, scenario: string): Noise {
  return draw ? draw(new Rng(streamSeed(seed, scenario, 'noise'))) : {};
}

/** A log-normal factor with mean 1, deterministic per (stream, key, slot); `stream` is a run's streamSeed. */
export function slotFactor(stream: number, key: number, slot: number, sigma: number | undefined): number {
  if (!sigma) return 1;
  const r = new Rng(streamSeed(stream, 'slot', key, slot));
  return Math.exp(sigma * r.normal() - (sigma * sigma) / 2);
}

/** Whether a shared blip is on at virtual second `sec` (blips start at random seconds and last `seconds`). */
export function blipAt(stream: number, sec: number, blips: Noise['blips']): boolean {
  if (!blips) return false;
  for (let s = sec - blips.seconds + 1; s <= sec; s++)
    if (new Rng(streamSeed(stream, 'blip', s)).next() < blips.perSecond) return true;
  return false;
}

/** Whether a side is scraped at instant `t` (epoch ms, whole seconds). */
export function scrapedAt(t: number, everyMs: number, offsetMs = 0): boolean {
  return (t - offsetMs) % everyMs === 0;
}

/** Whether a shared slowdown is on at virtual second `sec` (they start at random minutes and last `minutes`). */
export function slowdownAt(stream: number, sec: number, slowdowns: Noise['slowdowns']): boolean {
  if (!slowdowns) return false;
  const minute = Math.floor(sec / 60);
  for (let m = minute - slowdowns.minutes + 1; m <= minute; m++)
    if (m >= 0 && new Rng(streamSeed(stream, 'slowdown', m)).next() < slowdowns.perMinute) return true;
  return false;
}
