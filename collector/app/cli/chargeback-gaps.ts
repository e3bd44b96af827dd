// What `llmeter report chargeback` says on stderr after the report: each gap the report found (a
// node with no price, spot minutes priced at on-demand, requests on nodes with no inventory), one
// line each, and the exit status: a bill with unpriced node-minutes is incomplete.
import type { ChargebackReport } from '../../features/cost/chargeback.ts';

/** The exit status of a chargeback with node-minutes that had no price (as `prices at` exits when it knows no price). */
export const EXIT_UNPRICED = 4;

/** Prints the report's warnings; returns the command's exit status. */
export function reportGaps(report: ChargebackReport, allowUnpriced: boolean, err: NodeJS.WritableStream = process.stderr): number {
  // A collector of an older version answers without warnings: nothing to add then.
  for (const w of report.warnings ?? []) err.write(`llmeter: warning: ${w}\n`);
  const unpriced = report.totals?.unpriced_minutes ?? 0;
  if (unpriced === 0 || allowUnpriced) return 0;
  err.write(
    `llmeter: ${unpriced} node-minute${unpriced === 1 ? '' : 's'} of this period had no price: the bill is incomplete (exit status ${EXIT_UNPRICED}; --allow-unpriced accepts it)\n`,
  );
  return EXIT_UNPRICED;
}
