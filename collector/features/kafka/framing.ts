// How records are framed in Kafka messages. Per-message work in the client (encoding, varints, CRC,
// decoding, callbacks) costs about as much as the record itself at ~280 bytes, so the producer packs
// several records of one topic and one key into one message: NDJSON, one JSON record per line, in
// the order they were submitted. A packed message says so in its headers; a message without them is
// one JSON record (older producers, other tools), and both are read back.
//
// NDJSON rather than a JSON array: JSON.stringify never writes a raw newline, so lines split without
// parsing, and a line that is not JSON is isolated to itself (its line number goes to dead_letters)
// instead of spoiling the whole message.
import type { IHeaders, KafkaMessage } from 'kafkajs';

export const NDJSON = 'application/x-ndjson';
export const CONTENT_TYPE_HEADER = 'content-type';
/** Number of records (lines) in a packed message. */
export const RECORDS_HEADER = 'llmeter-records';

export function packedHeaders(records: number): IHeaders {
  return { [CONTENT_TYPE_HEADER]: NDJSON, [RECORDS_HEADER]: String(records) };
}

/** Joins serialised records (one JSON text each, no raw newline) into one packed message value. */
export function packRecords(values: readonly string[]): string {
  return values.join('\n');
}

export interface Unpacked {
  /** The JSON text of each record, in message order. */
  texts: string[];
  /** True for an NDJSON message (line numbers are meaningful), false for a single-record message. */
  packed: boolean;
}

function header(h: IHeaders | undefined, name: string): string | undefined {
  const v = h?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  if (one === undefined) return undefined;
  return typeof one === 'string' ? one : one.toString('utf8');
}

export function isPacked(m: Pick<KafkaMessage, 'headers'>): boolean {
  const ct = header(m.headers, CONTENT_TYPE_HEADER);
  return ct !== undefined && ct.split(';')[0]!.trim().toLowerCase() === NDJSON;
}

/** Splits a consumed message into its records' texts. */
export function unpack(m: Pick<KafkaMessage, 'headers' | 'value'>): Unpacked {
  const text = m.value ? m.value.toString('utf8') : '';
  if (!isPacked(m)) return { texts: [text], packed: false };
  // The count header is for people and other tools reading the topic; the lines are the truth.
  const texts = text.split('\n');
  // Tolerate one trailing newline (other NDJSON writers end every line with one).
  if (texts.length > 1 && texts[texts.length - 1] === '') texts.pop();
  return { texts, packed: true };
}
