// Dashboard 1: the GPU fleet from DCGM (gpu_metrics, capacity_events kind xid).
import { dashboard, where } from './lib/build.ts';

const gpu = "concat(node, ' gpu', toString(gpu_index), if(mig_instance = '', '', concat(' mig', mig_instance)))";
const filter = where.nodeAndPool();

/** One field per GPU over time, averaged (or `agg`) per interval. */
const perGpu = (field: string, agg = 'avg', scale = '') => `
  SELECT $__timeInterval(ts) AS time, ${gpu} AS gpu, ${agg}(value)${scale} AS value
  FROM gpu_metrics
  WHERE $__timeFilter(ts) AND field = '${field}' AND ${filter}
  GROUP BY time, gpu ORDER BY time`;

export const gpuFleet = dashboard({
  uid: 'llmeter-gpu-fleet',
  title: 'llmeter / GPU fleet',
  description: 'DCGM metrics of every GPU and MIG slice: utilisation, memory, temperature, power, clocks, XID errors, MIG and per-pod use.',
  tags: ['gpu', 'dcgm'],
  panels: [
    {
      type: 'stat',
      title: 'GPUs reporting',
      w: 4,
      h: 4,
      unit: 'none',
      description: 'Distinct GPUs (and MIG slices) with samples in the range.',
      query: { format: 'table', sql: `SELECT uniqExact(gpu_uuid, mig_instance) AS gpus FROM gpu_metrics WHERE $__timeFilter(ts) AND ${filter}` },
    },
    {
      type: 'stat',
      title: 'Fleet utilisation',
      w: 4,
      h: 4,
      unit: 'percentunit',
      min: 0,
      max: 1,
      description: 'Mean utilisation of whole GPUs over the range (the derived `utilization` field).',
      query: {
        format: 'table',
        sql: `SELECT avg(value) AS utilisation FROM gpu_metrics WHERE $__timeFilter(ts) AND field = 'utilization' AND mig_instance = '' AND ${filter}`,
      },
    },
    {
      type: 'stat',
      title: 'Hottest GPU',
      w: 4,
      h: 4,
      unit: 'celsius',
      description: 'Highest GPU temperature in the range. Alerts: 75 °C warning, 85 °C critical.',
      query: { format: 'table', sql: `SELECT max(value) AS temperature FROM gpu_metrics WHERE $__timeFilter(ts) AND field = 'gpu_temp' AND ${filter}` },
    },
    {
      type: 'stat',
      title: 'Fleet power',
      w: 4,
      h: 4,
      unit: 'watt',
      description: 'Mean total power draw of the fleet over the range (sum over GPUs of their mean draw).',
      query: {
        format: 'table',
        sql: `SELECT sum(p) AS power FROM (SELECT avg(value) AS p FROM gpu_metrics WHERE $__timeFilter(ts) AND field = 'power_usage' AND ${filter} GROUP BY gpu_uuid)`,
      },
    },
    {
      type: 'stat',
      title: 'XID errors',
      w: 4,
      h: 4,
      unit: 'none',
      description: 'XID errors reported by the driver in the range.',
      query: { format: 'table', sql: `SELECT count() AS xids FROM capacity_events FINAL WHERE kind = 'xid' AND $__timeFilter(ts) AND ${filter}` },
    },
    {
      type: 'stat',
      title: 'Frame buffer in use',
      w: 4,
      h: 4,
      unit: 'bytes',
      description: 'Frame buffer in use across the fleet, at the newest sample of each GPU.',
      query: {
        format: 'table',
        sql: `SELECT sum(v) AS fb_used FROM (SELECT argMax(value, ts) AS v FROM gpu_metrics WHERE $__timeFilter(ts) AND field = 'fb_used' AND ${filter} GROUP BY gpu_uuid, mig_instance)`,
      },
    },
    {
      type: 'timeseries',
      title: 'GPU utilisation',
      w: 12,
      unit: 'percentunit',
      min: 0,
      max: 1,
      description: 'Share of time a kernel ran, per GPU and MIG slice (gpu_util, or prof_gr_engine_active on MIG).',
      query: { format: 'time_series', sql: perGpu('utilization') },
    },
    {
      type: 'timeseries',
      title: 'Frame buffer used',
      w: 12,
      unit: 'percentunit',
      min: 0,
      max: 1,
      description: 'fb_used / fb_total per GPU. Alerts: 80 % warning, 95 % critical.',
      query: {
        format: 'time_series',
        sql: `
        SELECT $__timeInterval(ts) AS time, ${gpu} AS gpu, avgIf(value, field = 'fb_used') / nullIf(avgIf(value, field = 'fb_total'), 0) AS used
        FROM gpu_metrics
        WHERE $__timeFilter(ts) AND field IN ('fb_used', 'fb_total') AND ${filter}
        GROUP BY time, gpu ORDER BY time`,
      },
    },
    {
      type: 'timeseries',
      title: 'GPU temperature',
      w: 8,
      unit: 'celsius',
      description: 'Hottest reading per GPU per interval.',
      query: { format: 'time_series', sql: perGpu('gpu_temp', 'max') },
    },
    {
      type: 'timeseries',
      title: 'Power draw',
      w: 8,
      unit: 'watt',
      description: 'Mean power per GPU.',
      query: { format: 'time_series', sql: perGpu('power_usage') },
    },
    {
      type: 'timeseries',
      title: 'SM clock',
      w: 8,
      unit: 'hertz',
      description: 'Mean SM clock per GPU; a drop under load means throttling.',
      query: { format: 'time_series', sql: perGpu('sm_clock') },
    },
    {
      type: 'table',
      title: 'XID errors',
      w: 12,
      unit: 'none',
      description: 'XID errors as the driver reported them (capacity_events kind xid). 48, 63, 64, 74, 79, 94, 95, 119, 120, 140 need a reset.',
      query: {
        format: 'table',
        sql: `
        SELECT ts AS time, node, JSONExtractString(detail, 'gpu_uuid') AS gpu_uuid, toUInt32OrZero(replaceOne(action, 'xid_', '')) AS xid
        FROM capacity_events FINAL
        WHERE kind = 'xid' AND $__timeFilter(ts) AND ${filter}
        ORDER BY ts DESC LIMIT 500`,
      },
    },
    {
      type: 'table',
      title: 'MIG slices',
      w: 12,
      unit: 'percentunit',
      columnUnits: { fb_used: 'bytes' },
      description: 'Each MIG slice: profile, mean utilisation and newest frame buffer use over the range.',
      query: {
        format: 'table',
        sql: `
        SELECT node, gpu_uuid, mig_instance, any(mig_profile) AS profile,
               avgIf(value, field = 'utilization') AS utilisation, argMaxIf(value, ts, field = 'fb_used') AS fb_used
        FROM gpu_metrics
        WHERE $__timeFilter(ts) AND mig_instance != '' AND ${filter}
        GROUP BY node, gpu_uuid, mig_instance ORDER BY node, gpu_uuid, mig_instance`,
      },
    },
    {
      type: 'table',
      title: 'Use per pod',
      w: 24,
      unit: 'percentunit',
      columnUnits: { gpus: 'none', gpu_hours: 'h', fb_used: 'bytes' },
      description: 'GPU use attributed to pods by dcgm-exporter: mean utilisation, GPU-hours held (first to last sample × GPUs), newest frame buffer.',
      query: {
        format: 'table',
        sql: `
        SELECT namespace, pod, container, uniqExact(gpu_uuid) AS gpus,
               avgIf(value, field = 'utilization') AS utilisation,
               dateDiff('second', min(ts), max(ts)) * uniqExact(gpu_uuid) / 3600 AS gpu_hours,
               argMaxIf(value, ts, field = 'fb_used') AS fb_used
        FROM gpu_metrics
        WHERE $__timeFilter(ts) AND pod != '' AND ${filter}
        GROUP BY namespace, pod, container ORDER BY utilisation DESC LIMIT 200`,
      },
    },
  ],
});
