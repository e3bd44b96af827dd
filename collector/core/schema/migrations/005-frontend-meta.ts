import type { DdlTarget } from '../ddl.ts';
import { addColumnsSql } from './add-columns.ts';
import type { Migration } from './migration.ts';

// Written out, not derived from the table definition, so that this migration stays what it was (see
// 002-frontend-idempotency.ts).
const FRONTEND_META_COLUMNS = [
  "`app_version` LowCardinality(String) COMMENT 'meta.app.version: the page\\'s build.'",
  "`app_environment` LowCardinality(String) COMMENT 'meta.app.environment, e.g. production.'",
  "`app_release` LowCardinality(String) COMMENT 'meta.app.release.'",
  "`sdk_version` LowCardinality(String) COMMENT 'meta.sdk.version: the Faro web SDK\\'s version.'",
  "`browser_name` LowCardinality(String) COMMENT 'meta.browser.name, e.g. Chrome.'",
  "`browser_version` LowCardinality(String) COMMENT 'meta.browser.version.'",
  "`browser_os` LowCardinality(String) COMMENT 'meta.browser.os.'",
  "`browser_mobile` LowCardinality(String) COMMENT 'meta.browser.mobile: \\'true\\', \\'false\\' or empty.'",
  "`view_name` LowCardinality(String) COMMENT 'meta.view.name: the view of a single-page app.'",
  "`page_id` String COMMENT 'meta.page.id.' CODEC(ZSTD(1))",
  "`user_id` String COMMENT 'meta.user.id (opaque; no e-mail or user name is stored).' CODEC(ZSTD(1))",
  "`user_hash` String COMMENT 'meta.user.hash.' CODEC(ZSTD(1))",
];

/** Rows stored before keep their meta in `attributes`; the new columns are empty on them. */
export function frontendMetaSql(target: DdlTarget): string[] {
  return addColumnsSql('frontend_events', FRONTEND_META_COLUMNS, target);
}

export const frontendMeta: Migration = {
  version: 5,
  name: "frontend_events: the Faro payload meta (app, SDK, browser, view, page and user ids) in columns of its own, not in every row's attributes",
  statements: frontendMetaSql,
};
