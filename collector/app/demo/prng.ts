// A small seeded pseudo-random generator (mulberry32) for the SIMULATED fleet: the same seed gives the
// same sequence of tenants, prompts, token counts, errors and prices, so `llmeter demo --seed` and the
// tests that fill stores with it are reproducible.

export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Standard normal (Box–Muller). */
  normal(mean = 0, sd = 1): number {
    const u = Math.max(this.next(), 1e-12);
    const v = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal with the given median and spread (sigma of the underlying normal). */
  lognormal(median: number, sigma: number): number {
    return median * Math.exp(this.normal(0, sigma));
  }

  /** Exponential with the given mean (inter-arrival times). */
  exp(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }

  /** A child generator with its own stream, so parts of the simulation do not perturb each other. */
  fork(label: string): Prng {
    return new Prng(fnv1a(label, this.state ^ FNV_OFFSET));
  }
}

const FNV_OFFSET = 0x811c9dc5;

/** 32-bit FNV-1a of a string's UTF-16 code units: the simulation's stable names, ids and streams. */
export function fnv1a(text: string, seed = FNV_OFFSET): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}
