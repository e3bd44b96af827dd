// The SIMULATED tenants and their habits, written once for the live traffic (traffic.ts, over HTTP)
// and the history generator (history.ts, as records): what each tenant asks for next and how long
// until it asks again. A habit draws from the tenant's own generator in the same order either way.
import type { Prng } from './prng.ts';

export interface SimCall {
  api: 'ollama' | 'openai';
  model: string;
  stream: boolean;
  /** Whether an OpenAI stream asks for the usage chunk. */
  includeUsage: boolean;
  system: string;
  /** Words of the user's message. */
  promptWords: number;
  maxTokens: number;
}

export interface SimBurst {
  /** Wait before the tenant's next burst, ms (at rate 1). */
  waitMs: number;
  calls: SimCall[];
}

export interface SimHabit {
  /** The tenant's name in the demo (the generator suffixes copies: acme-chat-2…). */
  name: string;
  /** What the tenant is like, for the demo's output. */
  description: string;
  next(rng: Prng): SimBurst;
}

export const SIM_HABITS: readonly SimHabit[] = [
  {
    name: 'acme-chat',
    description: 'interactive chat app: steady short streaming chats (Ollama API, llama3.2:3b, gemma3:4b)',
    next: (rng) => {
      const model = rng.chance(0.75) ? 'llama3.2:3b' : 'gemma3:4b';
      const promptWords = rng.int(8, 60);
      const maxTokens = rng.int(48, 160);
      return {
        waitMs: rng.exp(700),
        calls: [{ api: 'ollama', model, stream: true, includeUsage: false, system: 'You are a helpful assistant.', promptWords, maxTokens }],
      };
    },
  },
  {
    name: 'globex-batch',
    description: 'document summaries: long prompts, non-streaming, a few at a time (OpenAI API, qwen2.5:14b)',
    next: (rng) => {
      const promptWords = rng.int(1_500, 5_000);
      const maxTokens = rng.int(120, 260);
      return {
        waitMs: rng.exp(4_000),
        calls: [
          {
            api: 'openai',
            model: 'qwen2.5:14b',
            stream: false,
            includeUsage: false,
            system: 'Summarise the document in five bullet points.',
            promptWords,
            maxTokens,
          },
        ],
      };
    },
  },
  {
    name: 'initech-agents',
    description: 'agents: bursts of parallel streaming calls, then quiet (OpenAI API, both nodes)',
    next: (rng) => {
      // Bursts of agent steps fired together, then a quiet spell.
      const n = rng.int(3, 9);
      const calls: SimCall[] = [];
      for (let i = 0; i < n; i++) {
        const model = rng.chance(0.7) ? 'llama3.2:3b' : 'qwen2.5:14b';
        const promptWords = rng.int(200, 900);
        calls.push({ api: 'openai', model, stream: true, includeUsage: true, system: '', promptWords, maxTokens: rng.int(40, 140) });
      }
      return { waitMs: rng.exp(9_000), calls };
    },
  },
];

/** Tenant i of a fleet: the habits in turn, copies named acme-chat-2, globex-batch-2… */
export function simTenantName(i: number): string {
  const h = SIM_HABITS[i % SIM_HABITS.length]!;
  const copy = Math.floor(i / SIM_HABITS.length);
  return copy === 0 ? h.name : `${h.name}-${copy + 1}`;
}

export function simHabitOf(i: number): SimHabit {
  return SIM_HABITS[i % SIM_HABITS.length]!;
}

/** Prompt tokens as the simulated servers count them: about four characters a token, four per message. */
export function tokensOf(s: string): number {
  return Math.max(1, Math.ceil(s.length / 4));
}

const PROMPT_WORDS = ['please', 'summarise', 'explain', 'the', 'following', 'text', 'about', '', 'with', 'care', 'and', 'detail', 'for', 'our', 'team'];
const TOPICS = [
  'quarterly GPU spend',
  'a support ticket about latency',
  'the release notes',
  'a contract clause',
  'an incident report',
  'onboarding steps',
  'the spot interruption policy',
  'a customer email',
];

/** The user's message of a call, `words` words drawn from `rng` (the live traffic sends it). */
export function promptText(rng: Prng, words: number): string {
  const parts: string[] = [];
  while (parts.length < words) {
    const topic = rng.pick(TOPICS);
    const w = rng.pick(PROMPT_WORDS);
    parts.push(w === '' ? topic : w);
  }
  return parts.join(' ');
}

// Mean and variance of one drawn word's length plus its separating space, over the lists above.
const WORD_STATS = (() => {
  const lens: number[] = [];
  for (const w of PROMPT_WORDS) for (const t of TOPICS) lens.push((w === '' ? t.length : w.length) + 1);
  const mean = lens.reduce((s, x) => s + x, 0) / lens.length;
  const variance = lens.reduce((s, x) => s + (x - mean) ** 2, 0) / lens.length;
  return { mean, sd: Math.sqrt(variance) };
})();

/** Chat template overhead: tokens a message costs besides its content. */
const TOKENS_PER_MESSAGE = 4;

/** Prompt tokens of a chat request's messages, as the simulated servers count them. */
export function tokensOfMessages(messages: unknown): number {
  if (!Array.isArray(messages)) return 1;
  return messages.reduce((n: number, m: unknown) => n + TOKENS_PER_MESSAGE + tokensOf(String((m as { content?: unknown }).content ?? '')), 0);
}

/**
 * Prompt tokens of a call without writing its text (the history generator): the length of `words`
 * drawn words has the mean and spread of the text the live traffic would send (normal approximation),
 * counted as the servers count it, with the chat template's four tokens per message.
 */
export function promptTokensOf(rng: Prng, call: SimCall): number {
  const chars = Math.max(call.promptWords, Math.round(call.promptWords * WORD_STATS.mean - 1 + rng.normal(0, WORD_STATS.sd * Math.sqrt(call.promptWords))));
  return TOKENS_PER_MESSAGE + Math.max(1, Math.ceil(chars / 4)) + (call.system ? TOKENS_PER_MESSAGE + tokensOf(call.system) : 0);
}
