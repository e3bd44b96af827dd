// The node label rules on their own: spot labels, provider IDs, the GPU count from the node capacity.
import { describe, expect, it } from 'vitest';
import { capacityTypeOf, nodeIdentity, parseProviderId } from '../../../exporters/scrape/inventory/labels.ts';

describe('node label rules', () => {
  it('absent spot labels mean on-demand; unknown values too', () => {
    expect(capacityTypeOf({})).toBe('on_demand');
    expect(capacityTypeOf({ 'cloud.google.com/gke-spot': 'false' })).toBe('on_demand');
    expect(capacityTypeOf({ 'karpenter.sh/capacity-type': 'on-demand' })).toBe('on_demand');
    expect(capacityTypeOf({ lifecycle: 'Ec2Spot' })).toBe('spot');
  });

  it('parses provider IDs', () => {
    expect(parseProviderId('aws:///us-east-1a/i-0123')).toEqual({ provider: 'aws', instanceId: 'i-0123' });
    expect(parseProviderId('gce://p/z/n')).toEqual({ provider: 'gcp', instanceId: 'n' });
    expect(parseProviderId('kind://docker/kind/kind-control-plane')).toEqual({ provider: 'kind', instanceId: 'kind-control-plane' });
    expect(parseProviderId(undefined)).toEqual({ provider: '', instanceId: '' });
  });

  it('takes the GPU count from the node capacity when no label gives it', () => {
    expect(nodeIdentity({ name: 'n', labels: {}, gpuCapacity: '4' }, 'llmeter.io/tier')).toMatchObject({ gpu_count: 4, tier: 'premium' });
  });
});
