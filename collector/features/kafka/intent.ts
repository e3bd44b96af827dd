// Exactly-once into ClickHouse without a home-made log: before a batch of offsets [a, b] is inserted,
// the range is committed as the metadata of offset a ("intent"); the insert carries a ClickHouse
// deduplication token built from topic, partition and that range; offset b+1 is committed only once
// ClickHouse acknowledged. If the collector dies between insert and commit, whoever owns the
// partition next finds the intent at its starting offset and re-inserts exactly [a, b] with the same
// token, which ClickHouse discards. Without the intent, a redelivered batch could be cut at other
// boundaries and its token would not match.

export interface Intent {
  start: number;
  end: number;
}

const PREFIX = 'llmeter-intent:v1:';

export function encodeIntent(i: Intent): string {
  return `${PREFIX}${i.start}-${i.end}`;
}

export function decodeIntent(metadata: string | null | undefined): Intent | undefined {
  if (!metadata || !metadata.startsWith(PREFIX)) return undefined;
  const m = /^(\d+)-(\d+)$/.exec(metadata.slice(PREFIX.length));
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  return end >= start ? { start, end } : undefined;
}

export function dedupToken(topic: string, partition: number, start: number, end: number): string {
  return `kafka:${topic}:${partition}:${start}-${end}`;
}
