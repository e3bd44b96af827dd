import type { DdlTarget } from '../ddl.ts';
import { addColumnsSql } from './add-columns.ts';
import type { Migration } from './migration.ts';

// Written out, not derived from the table definition, so that this migration stays what it was (see
// 002-frontend-idempotency.ts).
const GPU_PCI_BUS_ID_COLUMNS = [
  "`pci_bus_id` LowCardinality(String) COMMENT 'PCI bus id of the GPU (00000000:3B:00.0), as node-level tools name it; empty when the exporter does not say.'",
];

/** Rows stored before have an empty pci_bus_id. */
export function gpuPciBusIdSql(target: DdlTarget): string[] {
  return addColumnsSql('gpu_metrics', GPU_PCI_BUS_ID_COLUMNS, target);
}

export const gpuPciBusId: Migration = { version: 7, name: 'gpu_metrics: pci_bus_id, the GPU as node-level tools name it', statements: gpuPciBusIdSql };
