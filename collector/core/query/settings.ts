// Settings a client may ask for with a query (the ClickHouse HTTP interface's URL parameters). Only
// two kinds are applied: settings that change how a result is written and nothing else, and the
// service's own limits when the client asks for less than the service allows. Everything else
// (readonly, the tenant filter, settings that reach files, servers or change what may be read, and
// the ones not judged yet) is left out, and the query runs as if it had not been asked for.
import type { QueryConfig } from './config.ts';

/** Settings that only shape the written result: applied as asked. */
const HARMLESS = new Set([
  'date_time_output_format',
  'date_time_64_output_format_cut_trailing_zeros_align_to_groups_of_thousands',
  'extremes',
  'format_csv_delimiter',
  'format_csv_null_representation',
  'format_tsv_null_representation',
  'join_use_nulls',
  'limit',
  'offset',
  'output_format_arrow_string_as_string',
  'output_format_csv_crlf_end_of_line',
  'output_format_decimal_trailing_zeros',
  'output_format_json_array_of_rows',
  'output_format_json_escape_forward_slashes',
  'output_format_json_map_as_array_of_tuples',
  'output_format_json_named_tuples_as_objects',
  'output_format_json_pretty_print',
  'output_format_json_quote_64bit_floats',
  'output_format_json_quote_64bit_integers',
  'output_format_json_quote_decimals',
  'output_format_json_quote_denormals',
  'output_format_json_skip_null_value_in_named_tuples',
  'output_format_json_validate_utf8',
  'output_format_parquet_string_as_string',
  'output_format_pretty_color',
  'output_format_pretty_grid_charset',
  'output_format_pretty_max_rows',
  'output_format_pretty_row_numbers',
  'output_format_tsv_crlf_end_of_line',
  'output_format_write_statistics',
  'session_timezone',
]);

/** The service's limits by their ClickHouse names, in the engine's units. */
export function limitValues(cfg: QueryConfig): Record<string, number> {
  return {
    max_execution_time: cfg.timeout_ms / 1000,
    max_result_rows: cfg.max_result_rows,
    max_result_bytes: cfg.max_result_bytes,
    max_memory_usage: cfg.max_memory_bytes,
  };
}

/** Longest value a harmless setting may have (a delimiter, a time zone name, a number). */
const MAX_VALUE_LENGTH = 64;

export interface SettingsDecision {
  /** Settings to run the query with: harmless ones as asked, limits lowered to what was asked. */
  applied: Record<string, string>;
  /** Names of the settings left out. */
  ignored: string[];
}

/**
 * Splits what a client asked for into what the query runs with and what is left out. A limit asked
 * above the service's (or 0, ClickHouse's "no limit") leaves the service's in force.
 */
export function decideSettings(asked: Readonly<Record<string, string>>, cfg: QueryConfig): SettingsDecision {
  const limits = limitValues(cfg);
  const applied: Record<string, string> = {};
  const ignored: string[] = [];
  for (const [name, value] of Object.entries(asked)) {
    const limit = limits[name];
    if (limit !== undefined) {
      const n = Number(value);
      if (value.trim() !== '' && Number.isFinite(n) && n > 0 && n < limit) applied[name] = String(n);
      else ignored.push(name);
    } else if (HARMLESS.has(name) && value.length <= MAX_VALUE_LENGTH) {
      applied[name] = value;
    } else {
      ignored.push(name);
    }
  }
  return { applied, ignored };
}
