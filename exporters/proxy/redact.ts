// Error text the proxy keeps (llm_requests.error) comes partly from the upstream, and an upstream may
// echo a key back ("Incorrect API key provided: sk-…"): the proxy's own key for that upstream, or the
// one the client sent. Both, and anything shaped like a key, are replaced before the text is stored.

const REDACTED = '[redacted]';

/** Shapes of keys and tokens: OpenAI-style sk-…, bearer tokens, llmeter's own llm_… keys, key=value pairs. */
const SHAPES = [
  /\b(?:sk|pk|rk)-[A-Za-z0-9_-]{8,}/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /\bllm_[A-Za-z0-9_-]{16,}/g,
  /\b((?:api[_-]?key|token|secret|password)["']?\s*[:=]\s*["']?)[^\s"',}]{6,}/gi,
];

export function redactSecrets(text: string, known: readonly (string | undefined)[]): string {
  let out = text;
  for (const k of known) {
    // Short values would match ordinary words; real keys are long.
    if (k && k.length >= 8) out = out.split(k).join(REDACTED);
  }
  for (const re of SHAPES) out = out.replace(re, (m, prefix?: string) => (typeof prefix === 'string' && prefix !== m ? prefix + REDACTED : REDACTED));
  return out;
}
