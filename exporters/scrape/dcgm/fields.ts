// Every field dcgm-exporter 2.x–4.x emits (default, DCP and compatibility CSVs, exporter-owned
// DCGM_EXP_* metrics), with the unit the exporter has reported it in by default and the name it is
// stored under. Stored names are the DCGM name in lower case without the DCGM_FI_DEV_ prefix
// (DCGM_FI_PROF_ fields keep `prof_`), so DCGM's own documentation still applies.
import { NAME_SUFFIX_UNITS, type SourceUnit } from './units.ts';

export interface FieldDef {
  /** Name stored in gpu_metrics.field. */
  readonly field: string;
  /** Unit the exporter reports when its HELP text does not say. */
  readonly unit: SourceUnit;
}

// [DCGM field name, default source unit]
const DEV: readonly [string, SourceUnit][] = [
  // Clocks
  ['SM_CLOCK', 'MHz'],
  ['MEM_CLOCK', 'MHz'],
  ['VIDEO_CLOCK', 'MHz'],
  ['APP_SM_CLOCK', 'MHz'],
  ['APP_MEM_CLOCK', 'MHz'],
  ['MAX_SM_CLOCK', 'MHz'],
  ['MAX_MEM_CLOCK', 'MHz'],
  ['MAX_VIDEO_CLOCK', 'MHz'],
  ['CLOCK_THROTTLE_REASONS', 'bitmask'],
  ['CLOCKS_EVENT_REASONS', 'bitmask'],
  // Temperature
  ['GPU_TEMP', 'C'],
  ['MEMORY_TEMP', 'C'],
  ['GPU_MAX_OP_TEMP', 'C'],
  ['MEM_MAX_OP_TEMP', 'C'],
  ['SLOWDOWN_TEMP', 'C'],
  ['SHUTDOWN_TEMP', 'C'],
  ['GPU_TEMP_LIMIT', 'C'],
  // Power and energy
  ['POWER_USAGE', 'W'],
  ['POWER_USAGE_INSTANT', 'W'],
  ['TOTAL_ENERGY_CONSUMPTION', 'mJ'],
  ['POWER_MGMT_LIMIT', 'W'],
  ['POWER_MGMT_LIMIT_MIN', 'W'],
  ['POWER_MGMT_LIMIT_MAX', 'W'],
  ['POWER_MGMT_LIMIT_DEF', 'W'],
  ['ENFORCED_POWER_LIMIT', 'W'],
  ['FAN_SPEED', '%'],
  ['PSTATE', 'state'],
  // PCIe
  ['PCIE_TX_THROUGHPUT', 'KB/s'],
  ['PCIE_RX_THROUGHPUT', 'KB/s'],
  ['PCIE_REPLAY_COUNTER', 'count'],
  ['PCIE_LINK_GEN', 'state'],
  ['PCIE_LINK_WIDTH', 'count'],
  ['PCIE_MAX_LINK_GEN', 'state'],
  ['PCIE_MAX_LINK_WIDTH', 'count'],
  // Utilization
  ['GPU_UTIL', '%'],
  ['MEM_COPY_UTIL', '%'],
  ['ENC_UTIL', '%'],
  ['DEC_UTIL', '%'],
  // Errors and violations (throttle time; us in 2.x/3.x CSVs, ns in later ones — HELP decides)
  ['XID_ERRORS', 'xid'],
  ['POWER_VIOLATION', 'us'],
  ['THERMAL_VIOLATION', 'us'],
  ['SYNC_BOOST_VIOLATION', 'us'],
  ['BOARD_LIMIT_VIOLATION', 'us'],
  ['LOW_UTIL_VIOLATION', 'us'],
  ['RELIABILITY_VIOLATION', 'us'],
  ['TOTAL_APP_CLOCKS_VIOLATION', 'us'],
  ['TOTAL_BASE_CLOCKS_VIOLATION', 'us'],
  // Framebuffer
  ['FB_TOTAL', 'MiB'],
  ['FB_FREE', 'MiB'],
  ['FB_USED', 'MiB'],
  ['FB_RESERVED', 'MiB'],
  ['FB_USED_PERCENT', 'ratio'],
  // ECC
  ['ECC_SBE_VOL_TOTAL', 'count'],
  ['ECC_DBE_VOL_TOTAL', 'count'],
  ['ECC_SBE_AGG_TOTAL', 'count'],
  ['ECC_DBE_AGG_TOTAL', 'count'],
  ['ECC_CURRENT', 'state'],
  ['ECC_PENDING', 'state'],
  // Retired pages and remapped rows
  ['RETIRED_SBE', 'count'],
  ['RETIRED_DBE', 'count'],
  ['RETIRED_PENDING', 'count'],
  ['UNCORRECTABLE_REMAPPED_ROWS', 'count'],
  ['CORRECTABLE_REMAPPED_ROWS', 'count'],
  ['ROW_REMAP_FAILURE', 'bool'],
  ['ROW_REMAP_PENDING', 'bool'],
  // NVLink
  ['NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL', 'count'],
  ['NVLINK_CRC_DATA_ERROR_COUNT_TOTAL', 'count'],
  ['NVLINK_REPLAY_ERROR_COUNT_TOTAL', 'count'],
  ['NVLINK_RECOVERY_ERROR_COUNT_TOTAL', 'count'],
  ['NVLINK_BANDWIDTH_TOTAL', 'count'],
  ...Array.from({ length: 18 }, (_, i) => [`NVLINK_BANDWIDTH_L${i}`, 'count'] as [string, SourceUnit]),
  // Modes and state
  ['VGPU_LICENSE_STATUS', 'state'],
  ['COMPUTE_MODE', 'state'],
  ['PERSISTENCE_MODE', 'bool'],
  ['CC_MODE', 'bool'],
  ['VIRTUAL_MODE', 'state'],
  ['AUTOBOOST', 'bool'],
  ['MIG_MODE', 'bool'],
  ['MIG_MAX_SLICES', 'count'],
  ['COUNT', 'count'],
  ['GPU_NVLINK_ERRORS', 'count'],
  ['DIAG_MEMORY_RESULT', 'state'],
];

const PROF: readonly [string, SourceUnit][] = [
  ['GR_ENGINE_ACTIVE', 'ratio'],
  ['SM_ACTIVE', 'ratio'],
  ['SM_OCCUPANCY', 'ratio'],
  ['PIPE_TENSOR_ACTIVE', 'ratio'],
  ['DRAM_ACTIVE', 'ratio'],
  ['PIPE_FP64_ACTIVE', 'ratio'],
  ['PIPE_FP32_ACTIVE', 'ratio'],
  ['PIPE_FP16_ACTIVE', 'ratio'],
  ['PIPE_TENSOR_IMMA_ACTIVE', 'ratio'],
  ['PIPE_TENSOR_HMMA_ACTIVE', 'ratio'],
  ['PIPE_TENSOR_DFMA_ACTIVE', 'ratio'],
  ['PIPE_INT_ACTIVE', 'ratio'],
  ['PCIE_TX_BYTES', 'B/s'],
  ['PCIE_RX_BYTES', 'B/s'],
  ['NVLINK_TX_BYTES', 'B/s'],
  ['NVLINK_RX_BYTES', 'B/s'],
  ...Array.from({ length: 8 }, (_, i) => [`NVDEC${i}_ACTIVE`, 'ratio'] as [string, SourceUnit]),
  ...Array.from({ length: 8 }, (_, i) => [`NVJPG${i}_ACTIVE`, 'ratio'] as [string, SourceUnit]),
  ['NVOFA0_ACTIVE', 'ratio'],
  ['NVOFA1_ACTIVE', 'ratio'],
];

// dcgm-exporter's own metrics (not DCGM fields). Their extra label becomes part of the field name.
const EXP: readonly [string, SourceUnit][] = [
  ['XID_ERRORS_COUNT', 'count'],
  ['CLOCK_EVENTS_COUNT', 'count'],
  ['GPU_HEALTH_STATUS', 'state'],
];

/** The 1.x metric names kept by `1.x-compatibility-metrics.csv`. */
const COMPAT_1X: Readonly<Record<string, string>> = {
  dcgm_sm_clock: 'DCGM_FI_DEV_SM_CLOCK',
  dcgm_memory_clock: 'DCGM_FI_DEV_MEM_CLOCK',
  dcgm_memory_temp: 'DCGM_FI_DEV_MEMORY_TEMP',
  dcgm_gpu_temp: 'DCGM_FI_DEV_GPU_TEMP',
  dcgm_power_usage: 'DCGM_FI_DEV_POWER_USAGE',
  dcgm_total_energy_consumption: 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION',
  dcgm_pcie_tx_throughput: 'DCGM_FI_DEV_PCIE_TX_THROUGHPUT',
  dcgm_pcie_rx_throughput: 'DCGM_FI_DEV_PCIE_RX_THROUGHPUT',
  dcgm_pcie_replay_counter: 'DCGM_FI_DEV_PCIE_REPLAY_COUNTER',
  dcgm_gpu_utilization: 'DCGM_FI_DEV_GPU_UTIL',
  dcgm_mem_copy_utilization: 'DCGM_FI_DEV_MEM_COPY_UTIL',
  dcgm_enc_utilization: 'DCGM_FI_DEV_ENC_UTIL',
  dcgm_dec_utilization: 'DCGM_FI_DEV_DEC_UTIL',
  dcgm_xid_errors: 'DCGM_FI_DEV_XID_ERRORS',
  dcgm_power_violation: 'DCGM_FI_DEV_POWER_VIOLATION',
  dcgm_thermal_violation: 'DCGM_FI_DEV_THERMAL_VIOLATION',
  dcgm_sync_boost_violation: 'DCGM_FI_DEV_SYNC_BOOST_VIOLATION',
  dcgm_board_limit_violation: 'DCGM_FI_DEV_BOARD_LIMIT_VIOLATION',
  dcgm_low_util_violation: 'DCGM_FI_DEV_LOW_UTIL_VIOLATION',
  dcgm_reliability_violation: 'DCGM_FI_DEV_RELIABILITY_VIOLATION',
  dcgm_fb_free: 'DCGM_FI_DEV_FB_FREE',
  dcgm_fb_used: 'DCGM_FI_DEV_FB_USED',
  dcgm_ecc_sbe_volatile_total: 'DCGM_FI_DEV_ECC_SBE_VOL_TOTAL',
  dcgm_ecc_dbe_volatile_total: 'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL',
  dcgm_ecc_sbe_aggregate_total: 'DCGM_FI_DEV_ECC_SBE_AGG_TOTAL',
  dcgm_ecc_dbe_aggregate_total: 'DCGM_FI_DEV_ECC_DBE_AGG_TOTAL',
  dcgm_retired_pages_sbe: 'DCGM_FI_DEV_RETIRED_SBE',
  dcgm_retired_pages_dbe: 'DCGM_FI_DEV_RETIRED_DBE',
  dcgm_retired_pages_pending: 'DCGM_FI_DEV_RETIRED_PENDING',
  dcgm_nvlink_flit_crc_error_count_total: 'DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL',
  dcgm_nvlink_data_crc_error_count_total: 'DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL',
  dcgm_nvlink_replay_error_count_total: 'DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL',
  dcgm_nvlink_recovery_error_count_total: 'DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL',
  dcgm_nvlink_bandwidth_total: 'DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL',
  dcgm_fi_prof_gr_engine_active: 'DCGM_FI_PROF_GR_ENGINE_ACTIVE',
  dcgm_fi_prof_sm_active: 'DCGM_FI_PROF_SM_ACTIVE',
  dcgm_fi_prof_sm_occupancy: 'DCGM_FI_PROF_SM_OCCUPANCY',
  dcgm_fi_prof_pipe_tensor_active: 'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE',
  dcgm_fi_prof_dram_active: 'DCGM_FI_PROF_DRAM_ACTIVE',
  dcgm_fi_prof_pcie_tx_bytes: 'DCGM_FI_PROF_PCIE_TX_BYTES',
  dcgm_fi_prof_pcie_rx_bytes: 'DCGM_FI_PROF_PCIE_RX_BYTES',
};

/** Field definitions by exact metric name. */
export const FIELDS: ReadonlyMap<string, FieldDef> = (() => {
  const m = new Map<string, FieldDef>();
  for (const [n, unit] of DEV) m.set(`DCGM_FI_DEV_${n}`, { field: n.toLowerCase(), unit });
  for (const [n, unit] of PROF) m.set(`DCGM_FI_PROF_${n}`, { field: `prof_${n.toLowerCase()}`, unit });
  for (const [n, unit] of EXP) m.set(`DCGM_EXP_${n}`, { field: `exp_${n.toLowerCase()}`, unit });
  for (const [old, cur] of Object.entries(COMPAT_1X)) {
    const d = m.get(cur);
    if (d) m.set(old, d);
  }
  return m;
})();

/** The stored name of each field whose name changed over the versions. */
export const FIELD_RENAMES: Readonly<Record<string, string>> = {
  // 3.3 renamed "clock throttle reasons" to "clocks event reasons": one field over both versions.
  clock_throttle_reasons: 'clocks_event_reasons',
};

export interface ResolvedField {
  def: FieldDef;
  /** Unit implied by a unit suffix in the name (renamed metrics), which overrides the default. */
  suffixUnit?: SourceUnit;
  /** A DCGM field or exporter metric the table does not list (a newer exporter's). */
  unknown?: true;
}

const resolved = new Map<string, ResolvedField | null>();

/**
 * The field a metric name is: the table first, then a lower-case spelling, then a name with a unit
 * suffix (`DCGM_FI_DEV_SM_CLOCK_hertz`, `dcgm_fi_dev_sm_clock_hertz`), then any other DCGM_FI_* name
 * (kept under its own lower-case name so fields of newer exporters are stored too). Null when the
 * metric is not a DCGM field at all (e.g. the exporter's own Go runtime metrics).
 */
export function resolveField(name: string): ResolvedField | null {
  const hit = resolved.get(name);
  if (hit !== undefined) return hit;
  const r = resolveUncached(name);
  if (resolved.size < 10_000) resolved.set(name, r);
  return r;
}

function resolveUncached(name: string): ResolvedField | null {
  const direct = FIELDS.get(name) ?? FIELDS.get(name.toUpperCase());
  if (direct) return { def: renamed(direct) };
  for (const [suffix, unit] of NAME_SUFFIX_UNITS) {
    if (!name.toLowerCase().endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const d = FIELDS.get(base) ?? FIELDS.get(base.toUpperCase());
    if (d) return { def: renamed(d), suffixUnit: unit };
  }
  const upper = name.toUpperCase();
  if (upper.startsWith('DCGM_FI_DEV_')) return { def: { field: upper.slice(12).toLowerCase(), unit: 'none' }, unknown: true };
  if (upper.startsWith('DCGM_FI_PROF_')) return { def: { field: `prof_${upper.slice(13).toLowerCase()}`, unit: 'none' }, unknown: true };
  if (upper.startsWith('DCGM_FI_')) return { def: { field: upper.slice(8).toLowerCase(), unit: 'none' }, unknown: true };
  if (upper.startsWith('DCGM_EXP_')) return { def: { field: `exp_${upper.slice(9).toLowerCase()}`, unit: 'none' }, unknown: true };
  return null;
}

function renamed(d: FieldDef): FieldDef {
  const to = FIELD_RENAMES[d.field];
  return to ? { ...d, field: to } : d;
}

/** Every known field with its default unit, for the documentation and tests. */
export function fieldTable(): { metric: string; field: string; unit: SourceUnit }[] {
  return [...FIELDS].map(([metric, d]) => ({ metric, field: renamed(d).field, unit: d.unit }));
}
