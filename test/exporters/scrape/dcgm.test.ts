// The dcgm-exporter mapping rules on pages constructed in the shape of the captures, for behaviour
// no capture shows: time-sliced and repeated series, units per field, compatibility names, blank
// sentinels, XID events and bounded state.
import { describe, expect, it } from 'vitest';
import { DcgmMapper } from '../../../exporters/scrape/dcgm/map.ts';
import { fieldTable, resolveField } from '../../../exporters/scrape/dcgm/fields.ts';
import { isBlankSentinel } from '../../../exporters/scrape/dcgm/units.ts';
import { NodeDirectory } from '../../../exporters/scrape/inventory/directory.ts';
import { parsePrometheusText } from '../../../exporters/scrape/prometheus/parse.ts';
import type { GpuSampleRecord } from '../../../collector/core/schema/tables.ts';

describe('dcgm mapping rules', () => {
  const HDR = (name: string, help: string) => `# HELP ${name} ${help}\n# TYPE ${name} gauge\n`;
  const GPU = 'gpu="0",UUID="GPU-aaaa",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="h100-node"';
  const mapper = () => new DcgmMapper({ target: 't', fallbackNode: 'fallback', directory: new NodeDirectory(), maxSeries: 100 });
  const gpuRows = (m: ReturnType<DcgmMapper['map']>) => m.batches.find((b) => b.signal === 'gpu_sample')!.records as GpuSampleRecord[];
  const eventsOf = (m: ReturnType<DcgmMapper['map']>) => m.batches.find((b) => b.signal === 'capacity_event')!.records;

  it('time-sliced GPU repeated per pod: one row per field, pods listed, never double-counted', () => {
    const text =
      HDR('DCGM_FI_DEV_FB_USED', 'Framebuffer memory used (in MiB).') +
      `DCGM_FI_DEV_FB_USED{${GPU},container="vllm",namespace="team-a",pod="vllm-a"} 1000\n` +
      `DCGM_FI_DEV_FB_USED{${GPU},container="vllm",namespace="team-b",pod="vllm-b"} 1000\n` +
      HDR('DCGM_FI_DEV_GPU_UTIL', 'GPU utilization (in %).') +
      `DCGM_FI_DEV_GPU_UTIL{${GPU},container="vllm",namespace="team-b",pod="vllm-b"} 80\n` +
      `DCGM_FI_DEV_GPU_UTIL{${GPU},container="vllm",namespace="team-a",pod="vllm-a"} 80\n`;
    const m = mapper().map(parsePrometheusText(text), 1_800_000_000_000);
    const rows = gpuRows(m);
    expect(rows.filter((r) => r.field === 'fb_used')).toEqual([
      expect.objectContaining({ value: 1000 * 1048576, pod: 'vllm-a,vllm-b', namespace: 'team-a,team-b', container: 'vllm' }),
    ]);
    expect(rows.filter((r) => r.field === 'gpu_util')).toEqual([expect.objectContaining({ value: 0.8, pod: 'vllm-a,vllm-b' })]);
    expect(m.ignored.get('shared_gpu_duplicate')).toBe(2);
  });

  it('a series repeated for the same GPU, field and pods is counted as a duplicate, not as a shared GPU', () => {
    const text =
      `DCGM_FI_DEV_GPU_TEMP{${GPU},err_origin="a"} 40\n` +
      `DCGM_FI_DEV_GPU_TEMP{${GPU},err_origin="b"} 41\n` +
      `DCGM_FI_DEV_GPU_TEMP{${GPU},container="vllm",namespace="team-a",pod="vllm-a"} 40\n`;
    const m = mapper().map(parsePrometheusText(text), 1_800_000_000_000);
    expect(gpuRows(m).filter((r) => r.field === 'gpu_temp')).toEqual([expect.objectContaining({ value: 40, pod: 'vllm-a' })]);
    expect([...m.ignored].sort()).toEqual([
      ['duplicate_series', 1],
      ['shared_gpu_duplicate', 1],
    ]);
  });

  it('unknown fields keep the labels that tell their series apart', () => {
    const text = `DCGM_FI_DEV_SOMETHING_NEW{${GPU},xid="42"} 1\nDCGM_FI_DEV_SOMETHING_NEW{${GPU},xid="48"} 2\n`;
    const m = mapper().map(parsePrometheusText(text), 1_800_000_000_000);
    expect(gpuRows(m).map((r) => [r.field, r.value])).toEqual([
      ['something_new.42', 1],
      ['something_new.48', 2],
    ]);
    expect(m.ignored.size).toBe(0);
  });

  it('absent and empty pod labels are the same: an unallocated GPU', () => {
    const a = gpuRows(mapper().map(parsePrometheusText(`DCGM_FI_DEV_GPU_TEMP{${GPU}} 40\n`), 1_800_000_000_000))[0]!;
    const b = gpuRows(mapper().map(parsePrometheusText(`DCGM_FI_DEV_GPU_TEMP{${GPU},container="",namespace="",pod=""} 40\n`), 1_800_000_000_000))[0]!;
    expect(a).toEqual(b);
    expect(a).toMatchObject({ namespace: '', pod: '', container: '' });
  });

  it('MIG slice without GPU_UTIL: utilization comes from the profiling engine-active field', () => {
    const mig = `${GPU},GPU_I_PROFILE="1g.10gb",GPU_I_ID="9"`;
    const text = HDR('DCGM_FI_PROF_GR_ENGINE_ACTIVE', 'Ratio of time the graphics engine is active.') + `DCGM_FI_PROF_GR_ENGINE_ACTIVE{${mig}} 0.42\n`;
    const rows = gpuRows(mapper().map(parsePrometheusText(text), 1_800_000_000_000));
    expect(rows.find((r) => r.field === 'utilization')).toMatchObject({ value: 0.42, unit: 'ratio', mig_instance: '9', mig_profile: '1g.10gb' });
  });

  it('one unit per field whatever the exporter version reports: HELP, name suffix, then the default', () => {
    const old =
      HDR('DCGM_FI_DEV_SM_CLOCK', 'SM clock frequency (in MHz).') +
      `DCGM_FI_DEV_SM_CLOCK{${GPU}} 1980\n` +
      HDR('DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', 'Total energy consumption since boot (in mJ).') +
      `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{${GPU}} 123456789\n` +
      HDR('DCGM_FI_DEV_GPU_UTIL', 'GPU utilization (in %).') +
      `DCGM_FI_DEV_GPU_UTIL{${GPU}} 75\n` +
      HDR('DCGM_FI_DEV_FB_USED', 'Framebuffer memory used (in MiB).') +
      `DCGM_FI_DEV_FB_USED{${GPU}} 2048\n` +
      HDR('DCGM_FI_DEV_POWER_VIOLATION', 'Throttling duration due to power constraints (in us).') +
      `DCGM_FI_DEV_POWER_VIOLATION{${GPU}} 2500000\n`;
    const renamed =
      HDR('DCGM_FI_DEV_SM_CLOCK', 'SM clock frequency (in Hz).') +
      `DCGM_FI_DEV_SM_CLOCK{${GPU}} 1980000000\n` +
      HDR('DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', 'Total energy consumption since boot (in J).') +
      `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{${GPU}} 123456.789\n` +
      HDR('DCGM_FI_DEV_GPU_UTIL', 'GPU utilization ratio (0-1).') +
      `DCGM_FI_DEV_GPU_UTIL{${GPU}} 0.75\n` +
      HDR('DCGM_FI_DEV_FB_USED_bytes', 'Framebuffer memory used.') +
      `DCGM_FI_DEV_FB_USED_bytes{${GPU}} 2147483648\n` +
      HDR('DCGM_FI_DEV_POWER_VIOLATION', 'Throttling duration due to power constraints (in ns).') +
      `DCGM_FI_DEV_POWER_VIOLATION{${GPU}} 2500000000\n`;
    // A page with TYPE/HELP removed (e.g. filtered through grep) falls back to the field defaults.
    const bare = old
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');
    const norm = (text: string) =>
      Object.fromEntries(
        gpuRows(mapper().map(parsePrometheusText(text), 1_800_000_000_000))
          .filter((r) => r.field !== 'utilization')
          .map((r) => [r.field, [Number(Number(r.value).toPrecision(12)), r.unit]]),
      );
    const expected = {
      sm_clock: [1.98e9, 'hz'],
      total_energy_consumption: [123456.789, 'joules'],
      gpu_util: [0.75, 'ratio'],
      fb_used: [2147483648, 'bytes'],
      power_violation: [2.5, 'seconds'],
    };
    expect(norm(old)).toEqual(expected);
    expect(norm(renamed)).toEqual(expected);
    expect(norm(bare)).toEqual(expected);
  });

  it('1.x compatibility names and 3.3 "clocks event reasons" map to the same fields', () => {
    expect(resolveField('dcgm_sm_clock')!.def.field).toBe('sm_clock');
    expect(resolveField('dcgm_fi_prof_gr_engine_active')!.def).toEqual({ field: 'prof_gr_engine_active', unit: 'ratio' });
    expect(resolveField('DCGM_FI_DEV_CLOCK_THROTTLE_REASONS')!.def.field).toBe('clocks_event_reasons');
    expect(resolveField('DCGM_FI_DEV_CLOCKS_EVENT_REASONS')!.def.field).toBe('clocks_event_reasons');
    expect(resolveField('DCGM_FI_DEV_SOMETHING_NEW')!.def.field).toBe('something_new');
    expect(resolveField('go_goroutines')).toBeNull();
    expect(fieldTable().length).toBeGreaterThan(100);
  });

  it('DCGM blank sentinels are never stored as readings', () => {
    for (const v of [Number('9223372036854775794'), Number('9223372036854775792'), 2147483632, 2147483635, 140737488355328])
      expect(isBlankSentinel(v), String(v)).toBe(true);
    for (const v of [0, 1410, 15109, 2147483631, 1e12]) expect(isBlankSentinel(v), String(v)).toBe(false);
    const m = mapper().map(parsePrometheusText(`DCGM_FI_DEV_MEMORY_TEMP{${GPU}} 9223372036854775794\nDCGM_FI_DEV_GPU_TEMP{${GPU}} NaN\n`), 1_800_000_000_000);
    expect(gpuRows(m)).toHaveLength(0);
    expect([...m.ignored]).toEqual([
      ['blank_sentinel', 1],
      ['not_finite', 1],
    ]);
  });

  it('XID count metric (exporter 3.3+): events from its increases, the last-XID gauge then ignored for events', () => {
    const d = mapper();
    const page = (n: number, last: number) =>
      `DCGM_EXP_XID_ERRORS_COUNT{${GPU},window_size_in_ms="300000",xid="48"} ${n}\nDCGM_FI_DEV_XID_ERRORS{${GPU}} ${last}\n`;
    const m1 = d.map(parsePrometheusText(page(1, 48)), 1_800_000_000_000);
    expect(
      gpuRows(m1)
        .map((r) => r.field)
        .sort(),
    ).toEqual(['exp_xid_errors_count.48', 'xid_errors']);
    const e1 = eventsOf(m1);
    const e2 = eventsOf(d.map(parsePrometheusText(page(1, 48)), 1_800_000_015_000));
    const e3 = eventsOf(d.map(parsePrometheusText(page(3, 48)), 1_800_000_030_000));
    expect(e1).toHaveLength(1);
    expect(e1[0]).toMatchObject({ kind: 'xid', action: 'xid_48', event_id: 'xid:h100-node:GPU-aaaa:48:first' });
    expect(e2).toHaveLength(0);
    expect(JSON.parse(e3[0]!.detail!)).toMatchObject({ xid: 48, count: 2 });
  });

  it('state is bounded and forgotten when stale', () => {
    const d = new DcgmMapper({ target: 't', fallbackNode: 'f', directory: new NodeDirectory(), maxSeries: 1 });
    const page = `DCGM_FI_DEV_XID_ERRORS{gpu="0",UUID="GPU-1"} 0\nDCGM_FI_DEV_XID_ERRORS{gpu="1",UUID="GPU-2"} 0\n`;
    const m = d.map(parsePrometheusText(page), 1_800_000_000_000);
    expect(d.trackedSeries()).toBe(1);
    expect(m.ignored.get('series_limit')).toBe(1);
    d.forget(1_800_000_000_001);
    expect(d.trackedSeries()).toBe(0);
  });
});
