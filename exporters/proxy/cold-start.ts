// What counts as a cold start, defined once for the proxy's counter and the dashboards: a request
// whose Ollama load_duration is at least this long. load_duration runs from the request's arrival to
// a runner holding the model. For a model already loaded that is the scheduler's hand-off, far
// shorter. A load is longer: Ollama checks a starting runner at an interval above this threshold, so
// a load not finished at the first check reports at least that interval (docs/proxy.md).

/** The shortest load_duration (ns) that counts as a cold start. */
export const COLD_START_LOAD_NS = 200_000_000;

/** The definition in words, for metric help and panel descriptions. */
export const COLD_START_DEFINITION = `Ollama load_duration of at least ${COLD_START_LOAD_NS / 1e9} s`;

export function isColdStart(loadNs: number): boolean {
  return loadNs >= COLD_START_LOAD_NS;
}

/** The same test in ClickHouse SQL, over a column of nanoseconds. */
export function coldStartSql(column = 'load_duration_ns'): string {
  return `${column} >= ${COLD_START_LOAD_NS}`;
}
