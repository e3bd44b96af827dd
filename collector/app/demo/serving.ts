// How a SIMULATED model server serves one request, written once for the live servers
// (model-server.ts) and the history generator (history.ts): a cold start when the model is not
// resident, prompt processing at the prefill rate, tokens at a decode cadence that slows under
// concurrency, and occasional failures before or in the middle of the answer.
import type { SimModel } from './catalog.ts';
import type { Prng } from './prng.ts';

export interface RequestPlan {
  loadMs: number;
  prefillMs: number;
  outTokens: number;
  /** Mean gap between tokens, ms (each gap is this × 0.85–1.15). */
  perTokenMs: number;
  /** Fails with a 500 before any token. */
  fail: boolean;
  /** Breaks off with an error after this many tokens; -1 when it does not. */
  breakAt: number;
}

export interface FailureRates {
  errorRate: number;
  midstreamErrorRate: number;
}

/** Draws one request's plan; `concurrency` counts the requests computing with it, itself included. */
export function planRequest(
  rng: Prng,
  model: SimModel,
  rates: FailureRates,
  promptTokens: number,
  maxTokens: number,
  concurrency: number,
  cold: boolean,
): RequestPlan {
  const loadMs = cold ? model.loadMs * (0.8 + 0.4 * rng.next()) : rng.int(1, 4) * 10;
  const prefillMs = (promptTokens / model.prefillTps) * 1000 * (0.9 + 0.2 * rng.next());
  const outTokens = Math.max(1, Math.min(maxTokens, Math.round(rng.lognormal(maxTokens * 0.55, 0.45))));
  const perTokenMs = 1000 / (model.decodeTps / (1 + 0.18 * (Math.max(1, concurrency) - 1)));
  const fail = rng.chance(rates.errorRate);
  const breakAt = rng.chance(rates.midstreamErrorRate) ? rng.int(1, Math.max(1, outTokens - 1)) : -1;
  return { loadMs, prefillMs, outTokens, perTokenMs, fail, breakAt };
}

/** One gap between tokens, ms. */
export function tokenGapMs(rng: Prng, perTokenMs: number): number {
  return perTokenMs * (0.85 + 0.3 * rng.next());
}

/**
 * The time `tokens` gaps take, drawn at once (the history generator): the sum of that many gaps of
 * tokenGapMs has this mean and spread (a uniform ±15 % per gap; normal approximation).
 */
export function decodeMs(rng: Prng, perTokenMs: number, tokens: number): number {
  if (tokens <= 0) return 0;
  return Math.max(tokens * perTokenMs * 0.85, tokens * perTokenMs + rng.normal(0, perTokenMs * 0.0866 * Math.sqrt(tokens)));
}

/** GPU load of a server with `active` requests computing (all slots busy = 1; one request already drives most of the GPU). */
export function serverLoad(active: number, parallel: number): number {
  return active === 0 ? 0 : Math.min(1, 0.55 + (0.45 * active) / parallel);
}

/** What the servers answer, as the real Ollama and vLLM do. */
export const SIM_ERRORS = {
  queueFull: 'server busy, please try again.  maximum pending requests exceeded',
  runnerDied: 'llama runner process has terminated: exit status 2',
  midstream: 'an error was encountered while running the model: unexpected EOF',
} as const;

// How a SIMULATED GPU responds to the load its model server puts on it, for the live node
// (gpu-node.ts) and the history (history.ts) alike.

/** The GPU's temperature after `dtMs` at utilisation `util` (0–1): it approaches 33 + 48·util °C with a ~20 s time constant. */
export function gpuTemperatureAfter(temp: number, util: number, dtMs: number): number {
  const target = 33 + 48 * util;
  return temp + (target - temp) * (1 - Math.exp(-dtMs / 20_000));
}

/** Power draw, W: idle plus the load's share of the rest of the board's limit, less up to 10 % (`noise`, 0–1). */
export function gpuPowerW(board: { idleW: number; tdpW: number }, util: number, noise: number): number {
  return board.idleW + util * (board.tdpW - board.idleW) * (0.9 + 0.1 * noise);
}

/** Frame buffer in use, MiB: the driver's 430, the resident weights, and 600 of working memory while busy; never more than the board has. */
export function gpuMemoryUsedMiB(memoryMiB: number, residentBytes: number, util: number): number {
  return Math.min(memoryMiB, 430 + Math.round(residentBytes / 1048576) + (util > 0 ? 600 : 0));
}
