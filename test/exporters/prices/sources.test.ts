// Each price source against a local server that answers with the captured payloads (pagination
// included), through the real clients: the AWS SDKs for EC2 and Price List, fetch for the rest.
import { afterEach, describe, expect, it } from 'vitest';
import { GpuCatalog } from '../../../exporters/prices/catalog.ts';
import { AwsOnDemandSource } from '../../../exporters/prices/sources/aws-on-demand.ts';
import { AwsSpotSource, osOfProduct } from '../../../exporters/prices/sources/aws-spot.ts';
import { AzureSource, nextPageUrl } from '../../../exporters/prices/sources/azure.ts';
import { BookSource } from '../../../exporters/prices/sources/book.ts';
import { GcpSource } from '../../../exporters/prices/sources/gcp.ts';
import { LambdaSource, RunPodSource, VastSource } from '../../../exporters/prices/sources/marketplaces.ts';
import { bookEntrySchema } from '../../../exporters/prices/config.ts';
import { fakeServer, fixture, fixtureJson, send, type FakeServer } from '../../helpers/prices.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const http = { timeoutMs: 5_000, maxBodyBytes: 1 << 20 };
const creds = { access_key_id: 'AKIDEXAMPLE', secret_access_key: 'fake-secret', secret_access_key_file: '', session_token: '' };
const catalog = new GpuCatalog();
let server: FakeServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

function form(body: string): URLSearchParams {
  return new URLSearchParams(body);
}

// Page 2 of the spot history follows the captured answer's shape (aws-spot-price-history-response.xml):
// the same p5.48xlarge change reported under both Linux descriptions, and the price in force before
// the window (its timestamp is older than StartTime).
const SPOT_PAGE2 = `<DescribeSpotPriceHistoryResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLF</requestId>
  <spotPriceHistorySet>
    <item><instanceType>p5.48xlarge</instanceType><productDescription>Linux/UNIX</productDescription><spotPrice>30.326000</spotPrice><timestamp>2020-11-01T21:00:00.000Z</timestamp><availabilityZone>us-west-2a</availabilityZone></item>
    <item><instanceType>p5.48xlarge</instanceType><productDescription>Linux/UNIX (Amazon VPC)</productDescription><spotPrice>30.326000</spotPrice><timestamp>2020-11-01T21:00:00.000Z</timestamp><availabilityZone>us-west-2a</availabilityZone></item>
    <item><instanceType>p5.48xlarge</instanceType><productDescription>Linux/UNIX (Amazon VPC)</productDescription><spotPrice>20.993400</spotPrice><timestamp>2020-11-01T22:30:00.000Z</timestamp><availabilityZone>us-west-2a</availabilityZone><availabilityZoneId>usw2-az1</availabilityZoneId></item>
    <item><instanceType>p5.48xlarge</instanceType><productDescription>Linux/UNIX</productDescription><spotPrice>31.000000</spotPrice><timestamp>2020-10-30T08:00:00.000Z</timestamp><availabilityZone>us-west-2a</availabilityZone></item>
  </spotPriceHistorySet>
  <nextToken/>
</DescribeSpotPriceHistoryResponse>`;

describe('aws spot history (EC2 SDK, Query protocol)', () => {
  it('reads every page, keeps the price in force before the window, and folds the VPC twin', async () => {
    server = await fakeServer((req, res) => {
      const p = form(req.body);
      expect(p.get('Action')).toBe('DescribeSpotPriceHistory');
      if (!p.get('NextToken'))
        return send(res, 200, fixture('aws-spot-price-history-response.xml').replace('<nextToken/>', '<nextToken>page-2</nextToken>'), 'text/xml');
      expect(p.get('NextToken')).toBe('page-2');
      send(res, 200, SPOT_PAGE2, 'text/xml');
    });
    const src = new AwsSpotSource({
      endpoint: server.url,
      credentials: creds,
      timeoutMs: 5_000,
      regions: ['us-west-2'],
      instanceTypes: ['m3.medium', 'p5.48xlarge'],
      productDescriptions: ['Linux/UNIX', 'Linux/UNIX (Amazon VPC)'],
      pageSize: 100,
      maxPages: 10,
      catalog,
    });
    const r = await src.fetch({ since: Date.parse('2020-11-01T00:00:00Z'), until: Date.parse('2020-11-01T23:59:59Z'), now: NOW });
    expect(r.pages).toBe(2);
    expect(server.requests).toHaveLength(2);
    const first = form(server.requests[0]!.body);
    expect(first.get('StartTime')).toBe('2020-11-01T00:00:00Z');
    expect(first.get('InstanceType.2')).toBe('p5.48xlarge');
    expect(first.get('ProductDescription.2')).toBe('Linux/UNIX (Amazon VPC)');
    expect(server.requests[0]!.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\//);

    const p5 = r.points.filter((p) => p.instance_type === 'p5.48xlarge');
    expect(p5.map((p) => [p.effective_from, p.usd_per_hour, p.os])).toEqual([
      [Date.parse('2020-10-30T08:00:00Z'), '31', 'linux'],
      [Date.parse('2020-11-01T21:00:00Z'), '30.326', 'linux'],
      [Date.parse('2020-11-01T22:30:00Z'), '20.9934', 'linux'],
    ]);
    expect(p5[1]).toMatchObject({
      provider: 'aws',
      region: 'us-west-2',
      zone: 'us-west-2a',
      capacity_type: 'spot',
      raw_price: '30.326000',
      raw_unit: '1 Hour (Linux/UNIX)',
      gpu_model: 'NVIDIA H100',
      gpu_count: 8,
      usd_per_gpu_hour: '3.79075',
      source: 'aws-spot',
    });
    const m3 = r.points.filter((p) => p.instance_type === 'm3.medium');
    expect(m3.map((p) => [p.os, p.usd_per_hour, p.gpu_count])).toEqual([
      ['linux', '0.287', 0],
      ['windows', '0.033', 0],
    ]);
  });

  it('treats the VPC description as the same Linux price list', () => {
    expect(osOfProduct('Linux/UNIX (Amazon VPC)')).toBe(osOfProduct('Linux/UNIX'));
    expect(osOfProduct('Windows (Amazon VPC)')).toBe('windows');
  });

  it('fails on an EC2 error answer instead of returning nothing', async () => {
    server = await fakeServer((_req, res) =>
      send(
        res,
        503,
        '<Response><Errors><Error><Code>Unavailable</Code><Message>down</Message></Error></Errors><RequestID>x</RequestID></Response>',
        'text/xml',
      ),
    );
    const src = new AwsSpotSource({
      endpoint: server.url,
      credentials: creds,
      timeoutMs: 5_000,
      regions: ['us-east-1'],
      instanceTypes: ['p5.48xlarge'],
      productDescriptions: ['Linux/UNIX'],
      pageSize: 100,
      maxPages: 10,
      catalog,
    });
    await expect(src.fetch({ since: NOW - 3_600_000, until: NOW, now: NOW })).rejects.toThrow();
  });
});

// Page 2 of GetProducts: a Compute Instance product written in the captured element's structure.
const P5_PRODUCT = JSON.stringify({
  product: {
    productFamily: 'Compute Instance',
    attributes: {
      instanceType: 'p5.48xlarge',
      regionCode: 'us-east-1',
      operatingSystem: 'Linux',
      tenancy: 'Shared',
      preInstalledSw: 'NA',
      capacitystatus: 'Used',
      servicecode: 'AmazonEC2',
    },
    sku: 'XXP5EXAMPLE',
  },
  serviceCode: 'AmazonEC2',
  terms: {
    OnDemand: {
      'XXP5EXAMPLE.JRTCKXETXF': {
        priceDimensions: {
          'XXP5EXAMPLE.JRTCKXETXF.6YS6EN2CT7': {
            unit: 'Hrs',
            endRange: 'Inf',
            description: '$55.04 per On Demand Linux p5.48xlarge Instance Hour',
            appliesTo: [],
            rateCode: 'XXP5EXAMPLE.JRTCKXETXF.6YS6EN2CT7',
            beginRange: '0',
            pricePerUnit: { USD: '55.0400000000' },
          },
        },
        sku: 'XXP5EXAMPLE',
        effectiveDate: '2025-06-01T00:00:00Z',
        offerTermCode: 'JRTCKXETXF',
        termAttributes: {},
      },
    },
  },
  version: '20250601000000',
  publicationDate: '2025-06-01T00:00:00Z',
});

describe('aws on-demand', () => {
  it('reads the Price List API through the pricing SDK, every page, skipping non-instance products', async () => {
    server = await fakeServer((req, res) => {
      expect(req.headers['x-amz-target']).toBe('AWSPriceListService.GetProducts');
      const body = JSON.parse(req.body) as { NextToken?: string; Filters: { Field: string; Value: string }[] };
      expect(body.Filters).toContainEqual({ Type: 'TERM_MATCH', Field: 'instanceType', Value: 'p5.48xlarge' });
      if (!body.NextToken) return send(res, 200, fixture('aws-pricing-getproducts-cli-example.json'), 'application/x-amz-json-1.1');
      send(res, 200, JSON.stringify({ FormatVersion: 'aws_v1', PriceList: [P5_PRODUCT] }), 'application/x-amz-json-1.1');
    });
    const src = new AwsOnDemandSource({
      endpoint: server.url,
      credentials: creds,
      timeoutMs: 5_000,
      mode: 'api',
      apiRegion: 'us-east-1',
      regions: ['us-east-1'],
      instanceTypes: ['p5.48xlarge'],
      maxPages: 10,
      catalog,
    });
    const r = await src.fetch({ since: 0, until: NOW, now: NOW });
    expect(r.pages).toBe(2);
    expect(r.skipped).toEqual({ not_an_instance: 1 });
    expect(r.points).toHaveLength(1);
    expect(r.points[0]).toMatchObject({
      provider: 'aws',
      region: 'us-east-1',
      zone: '',
      instance_type: 'p5.48xlarge',
      capacity_type: 'on_demand',
      usd_per_hour: '55.04',
      usd_per_gpu_hour: '6.88',
      raw_price: '55.0400000000',
      raw_unit: 'Hrs',
      effective_from: Date.parse('2025-06-01T00:00:00Z'),
      source: 'aws-pricing',
    });
  });

  it('serves the maintained table without a network', async () => {
    const src = new AwsOnDemandSource({
      endpoint: '',
      credentials: creds,
      timeoutMs: 5_000,
      mode: 'table',
      apiRegion: 'us-east-1',
      regions: ['us-east-1'],
      instanceTypes: ['p5.48xlarge', 'p5e.48xlarge', 'g6e.xlarge'],
      maxPages: 10,
      catalog,
    });
    const r = await src.fetch({ since: 0, until: NOW, now: NOW });
    expect(r.points.map((p) => [p.instance_type, p.usd_per_hour, p.usd_per_gpu_hour])).toEqual([
      ['p5.48xlarge', '55.04', '6.88'],
      ['g6e.xlarge', '1.861', '1.861'],
    ]);
    expect(r.skipped).toEqual({ no_public_price: 1 });
  });
});

describe('azure retail prices', () => {
  it('follows NextPageLink (kept on the configured origin) and tells spot, low priority, Windows and reservations apart', async () => {
    const envelope = fixtureJson<Record<string, unknown>>('azure-retail-prices-envelope.json');
    const nc = fixtureJson<{ Items: Record<string, unknown>[] }>('azure-retail-prices-nc24ads-a100-test-items.json');
    const spot = fixtureJson<Record<string, unknown>>('azure-retail-prices-docs-item-spot.json');
    const reservation = fixtureJson<Record<string, unknown>>('azure-retail-prices-docs-item-reservation.json');
    const lowPriority = {
      ...nc.Items[1],
      meterName: 'NC24ads A100 v4 Low Priority',
      skuName: 'NC24ads A100 v4 Low Priority',
      retailPrice: 0.7345,
      type: 'Consumption',
      effectiveStartDate: '2024-01-01T00:00:00Z',
    };
    server = await fakeServer((req, res) => {
      const u = new URL(req.url, 'http://x');
      if (u.searchParams.get('$skip') === '100')
        return send(res, 200, JSON.stringify({ ...envelope, Items: [spot, reservation, lowPriority], NextPageLink: null, Count: 3 }));
      expect(u.searchParams.get('$filter')).toBe(
        "serviceName eq 'Virtual Machines' and (armSkuName eq 'Standard_NC24ads_A100_v4' or armSkuName eq 'Standard_F16s' or armSkuName eq 'Standard_E64_v4')",
      );
      send(
        res,
        200,
        JSON.stringify({
          ...envelope,
          Items: nc.Items.map((i) => ({ type: 'Consumption', effectiveStartDate: '2024-01-01T00:00:00Z', unitOfMeasure: '1 Hour', ...i })),
        }),
      );
    });
    const src = new AzureSource({
      endpoint: `${server.url}/api/retail/prices`,
      apiVersion: '2023-01-01-preview',
      regions: [],
      instanceTypes: ['Standard_NC24ads_A100_v4', 'Standard_F16s', 'Standard_E64_v4'],
      includeDevTest: false,
      maxPages: 10,
      http,
      catalog,
    });
    const r = await src.fetch({ since: 0, until: NOW, now: NOW });
    expect(r.pages).toBe(2);
    expect(server.requests[1]!.url).toContain('$skip=100');
    const view = r.points.map((p) => [p.instance_type, p.capacity_type, p.os, p.usd_per_hour]);
    expect(view).toContainEqual(['Standard_NC24ads_A100_v4', 'spot', 'linux', '0.7345']);
    expect(view).toContainEqual(['Standard_NC24ads_A100_v4', 'on_demand', 'linux', '3.673']);
    expect(view).toContainEqual(['Standard_NC24ads_A100_v4', 'on_demand', 'windows', '99.99']);
    expect(view).toContainEqual(['Standard_NC24ads_A100_v4', 'low_priority', 'linux', '0.7345']);
    // 25 007 $ for a one-year term = 25007 / 8760 h
    expect(view).toContainEqual(['Standard_E64_v4', 'reserved', 'linux', '2.854680365']);
    // The docs' spot item is a Dev/Test price: not a price this fleet pays.
    expect(r.skipped).toEqual({ dev_test: 1 });
    expect(r.points.find((p) => p.capacity_type === 'spot')).toMatchObject({
      gpu_model: 'NVIDIA A100 80GB PCIe',
      gpu_count: 1,
      raw_price: '0.7345',
      raw_unit: '1 Hour',
      region: 'eastus',
      source: 'azure',
    });
  });

  it('keeps a next-page link on the configured endpoint', () => {
    expect(nextPageUrl('https://prices.azure.com:443/api/retail/prices?$skip=100', 'http://127.0.0.1:8080/api/retail/prices')).toBe(
      'http://127.0.0.1:8080/api/retail/prices?$skip=100',
    );
  });

  it('fails on an answer without Items rather than storing nothing as if prices were gone', async () => {
    server = await fakeServer((_req, res) => send(res, 200, '{"BillingCurrency":"USD"}'));
    const src = new AzureSource({ endpoint: server.url, apiVersion: 'x', regions: [], instanceTypes: [], includeDevTest: false, maxPages: 10, http, catalog });
    await expect(src.fetch({ since: 0, until: NOW, now: NOW })).rejects.toThrow(/Items/);
  });
});

describe('gcp cloud billing catalog', () => {
  it('adds GPU + core + RAM SKUs (units + nanos) into machine prices, across pages', async () => {
    const page1 = fixture('gcp-billing-catalog-skus-a100-page.json');
    // Page 2: the same A2 SKUs as Spot, in the captured SKU shape (usageType Preemptible).
    const doc = JSON.parse(page1) as { skus: Record<string, unknown>[] };
    const spotSkus = doc.skus.map((s) => {
      const c = structuredClone(s) as {
        description: string;
        category: { usageType: string };
        pricingInfo: { pricingExpression: { tieredRates: { unitPrice: { units: string; nanos: number } }[] } }[];
      };
      // GPU SKUs read "… GPU attached to Spot Preemptible VMs running in …", core and RAM SKUs
      // "Spot Preemptible A2 Instance Core running in …".
      c.description = /GPU/.test(c.description)
        ? c.description.replace(' running in', ' attached to Spot Preemptible VMs running in')
        : `Spot Preemptible ${c.description}`;
      c.category.usageType = 'Preemptible';
      const up = c.pricingInfo[0]!.pricingExpression.tieredRates[0]!.unitPrice;
      up.units = '0';
      up.nanos = Math.floor(up.nanos / 3);
      return c;
    });
    server = await fakeServer((req, res) => {
      const u = new URL(req.url, 'http://x');
      expect(u.pathname).toBe('/v1/services/6F81-5844-456A/skus');
      expect(u.searchParams.get('key')).toBe('test-key');
      if (!u.searchParams.get('pageToken')) return send(res, 200, page1);
      send(res, 200, JSON.stringify({ skus: spotSkus, nextPageToken: '' }));
    });
    const src = new GcpSource({
      endpoint: server.url,
      serviceId: '6F81-5844-456A',
      apiKey: 'test-key',
      regions: ['us-central1'],
      machines: [],
      maxPages: 10,
      http,
    });
    const r = await src.fetch({ since: 0, until: NOW, now: NOW });
    expect(r.pages).toBe(2);
    expect(server.requests[1]!.url).toContain('pageToken=APKCS1HVa0Yp');
    const a2 = r.points.find((p) => p.instance_type === 'a2-highgpu-1g' && p.capacity_type === 'on_demand');
    // 2.933908 + 12 × 0.031611 + 85 × 0.004237 — the published a2-highgpu-1g price.
    // raw_price: the GPU, core and RAM SKU prices as the catalog sent them, in that order.
    expect(a2).toMatchObject({
      provider: 'gcp',
      region: 'us-central1',
      usd_per_hour: '3.673385',
      usd_per_gpu_hour: '3.673385',
      gpu_count: 1,
      raw_price: '2.933908;0.031611;0.004237',
      raw_unit: 'h;h;GiBy.h',
      effective_from: Date.parse('2023-03-24T10:52:50.681Z'),
      source: 'gcp',
    });
    const a8 = r.points.find((p) => p.instance_type === 'a2-highgpu-8g' && p.capacity_type === 'on_demand');
    expect(a8?.usd_per_hour).toBe('29.38708');
    const spot1 = r.points.find((p) => p.instance_type === 'a2-highgpu-1g' && p.capacity_type === 'spot');
    // units 0, floor(nanos / 3): 0.311302666 + 12 × 0.010537 + 85 × 0.001412333
    expect(spot1?.usd_per_hour).toBe('0.557794971');
    // The A100 80GB machines have no GPU SKU in these pages: not priced at core + RAM alone.
    expect(r.points.some((p) => p.instance_type?.startsWith('a2-ultragpu'))).toBe(false);
    expect(r.skipped.incomplete_machine).toBeGreaterThan(0);
  });

  it('a SKU with a negative price is skipped and counted; the rest of the answer is kept', async () => {
    const doc = JSON.parse(fixture('gcp-billing-catalog-skus-a100-page.json')) as {
      skus: { description: string; pricingInfo: { pricingExpression: { tieredRates: { unitPrice: { units: string; nanos: number } }[] } }[] }[];
    };
    const gpu = doc.skus.find((s) => /GPU/.test(s.description))!;
    const up = gpu.pricingInfo[0]!.pricingExpression.tieredRates[0]!.unitPrice;
    up.units = '-2';
    up.nanos = -933908000;
    server = await fakeServer((_req, res) => send(res, 200, JSON.stringify({ skus: doc.skus })));
    const src = new GcpSource({ endpoint: server.url, serviceId: '6F81-5844-456A', apiKey: '', regions: ['us-central1'], machines: [], maxPages: 10, http });
    const r = await src.fetch({ since: 0, until: NOW, now: NOW });
    expect(r.skipped.bad_price).toBe(1);
    // Without its GPU price no A2 machine is priced.
    expect(r.points.filter((p) => p.instance_type?.startsWith('a2-'))).toEqual([]);
    expect(r.skipped.incomplete_machine).toBeGreaterThan(0);
  });
});

describe('every source skips an item whose price cannot be stored, and keeps the rest', () => {
  it('aws on-demand: a price that is not a number, or negative', async () => {
    const bad = (usd: string) => P5_PRODUCT.replace('"55.0400000000"', JSON.stringify(usd)).replace(/p5\.48xlarge/g, `p5-${usd}`);
    server = await fakeServer((_req, res) =>
      send(res, 200, JSON.stringify({ FormatVersion: 'aws_v1', PriceList: [bad('n/a'), bad('-1.5'), P5_PRODUCT] }), 'application/x-amz-json-1.1'),
    );
    const src = new AwsOnDemandSource({
      endpoint: server.url,
      credentials: creds,
      timeoutMs: 5_000,
      mode: 'api',
      apiRegion: 'us-east-1',
      regions: ['us-east-1'],
      instanceTypes: ['p5.48xlarge'],
      maxPages: 10,
      catalog,
    });
    const r = await src.fetch({ since: 0, until: NOW, now: NOW });
    expect(r.skipped).toEqual({ bad_price: 2 });
    expect(r.points.map((p) => [p.instance_type, p.usd_per_hour])).toEqual([['p5.48xlarge', '55.04']]);
  });

  it('vast: a price beyond what a price column holds', async () => {
    const doc = fixtureJson<{ offers: Record<string, unknown> }>('vast-search-offers-docs-example.json');
    server = await fakeServer((_req, res) => send(res, 200, JSON.stringify({ offers: [{ ...doc.offers, gpu_name: 'Absurd', dph_total: 1e12 }, doc.offers] })));
    const src = new VastSource({ endpoint: server.url, apiKey: '', http, query: { type: 'on-demand' } });
    const r = await src.fetch({ since: NOW, until: NOW, now: NOW });
    expect(r.skipped).toEqual({ bad_price: 1 });
    expect(r.points.map((p) => p.instance_type)).toEqual(['4x Imaginary RTX 9999']);
  });
});

describe('runpod, vast, lambda', () => {
  it('runpod: GraphQL gpuTypes to per-GPU on-demand and spot prices; GraphQL errors fail the fetch', async () => {
    const gpu = fixtureJson<Record<string, unknown>>('runpod-get-gpu-docs-output.json');
    let fail = false;
    server = await fakeServer((req, res) => {
      expect(req.method).toBe('POST');
      expect(req.headers.authorization).toBe('Bearer rp-key');
      expect((JSON.parse(req.body) as { query: string }).query).toContain('gpuTypes');
      if (fail) return send(res, 200, JSON.stringify({ errors: [{ message: 'Something went wrong' }] }));
      send(res, 200, JSON.stringify({ data: { gpuTypes: [gpu] } }));
    });
    const src = new RunPodSource({ endpoint: `${server.url}/graphql`, apiKey: 'rp-key', http, gpuIds: [] });
    const r = await src.fetch({ since: NOW, until: NOW, now: NOW });
    expect(r.points.map((p) => [p.region, p.capacity_type, p.usd_per_hour])).toEqual([
      ['secure', 'on_demand', '1.89'],
      ['community', 'on_demand', '1.59'],
      ['community', 'spot', '0.89'],
    ]);
    expect(r.points[0]).toMatchObject({
      provider: 'runpod',
      instance_type: 'NVIDIA A100 80GB PCIe',
      gpu_model: 'A100 80GB',
      gpu_count: 1,
      effective_from: NOW,
    });
    fail = true;
    await expect(src.fetch({ since: NOW, until: NOW, now: NOW })).rejects.toThrow(/Something went wrong/);
  });

  it('vast: cheapest offer per GPU model, count and country, whole-offer price per hour', async () => {
    const doc = fixtureJson<{ offers: Record<string, unknown> }>('vast-search-offers-docs-example.json');
    const pricier = { ...doc.offers, id: 2, dph_total: 0.5 };
    server = await fakeServer((req, res) => {
      expect(JSON.parse(req.body)).toMatchObject({ type: 'on-demand', rentable: { eq: true } });
      send(res, 200, JSON.stringify({ offers: [pricier, doc.offers] }));
    });
    const src = new VastSource({ endpoint: server.url, apiKey: '', http, query: { limit: 100, type: 'on-demand', rentable: { eq: true } } });
    const r = await src.fetch({ since: NOW, until: NOW, now: NOW });
    expect(r.points).toHaveLength(1);
    expect(r.points[0]).toMatchObject({
      provider: 'vast',
      instance_type: '4x Imaginary RTX 9999',
      region: 'AT',
      capacity_type: 'marketplace',
      usd_per_hour: '0.234567',
      usd_per_gpu_hour: '0.05864175',
      gpu_count: 4,
      raw_price: '0.234567',
    });
  });

  it('lambda: integer cents per instance-hour, GPUs from the specs', async () => {
    server = await fakeServer((req, res) => {
      expect(req.headers.authorization).toBe('Bearer lambda-key');
      send(res, 200, fixture('lambda-instance-types-response.json'));
    });
    const src = new LambdaSource({ endpoint: `${server.url}/api/v1/instance-types`, apiKey: 'lambda-key', http });
    const r = await src.fetch({ since: NOW, until: NOW, now: NOW });
    expect(r.points.map((p) => [p.instance_type, p.usd_per_hour, p.gpu_count, p.gpu_model, p.raw_price, p.raw_unit])).toEqual([
      ['gpu_1x_a100_sxm4', '1.99', 1, 'A100 SXM4', '199', 'price_cents_per_hour'],
      ['gpu_1x_gh200', '2.29', 1, 'GH200', '229', 'price_cents_per_hour'],
      ['gpu_1x_h100_sxm5', '4.29', 1, 'H100 SXM5', '429', 'price_cents_per_hour'],
    ]);
  });

  it('lambda: a non-JSON answer is garbage, not an empty price list', async () => {
    server = await fakeServer((_req, res) => send(res, 200, '<html>maintenance</html>', 'text/html'));
    const src = new LambdaSource({ endpoint: server.url, apiKey: '', http });
    await expect(src.fetch({ since: NOW, until: NOW, now: NOW })).rejects.toThrow(/not JSON/);
  });
});

describe('price book', () => {
  it('normalises per-second and monthly prices to per-hour decimals', async () => {
    const src = new BookSource([
      bookEntrySchema.parse({ instance_type: 'dgx-a100', capacity_type: 'on_prem', price: '18250', unit: 'month', gpu_model: 'NVIDIA A100', gpu_count: 8 }),
      bookEntrySchema.parse({
        instance_type: 'NVIDIA A100 80GB PCIe',
        provider: 'book',
        capacity_type: 'serverless',
        price: '0.00076',
        unit: 'second',
        gpu_count: 1,
      }),
    ]);
    const r = await src.fetch({ since: 0, until: NOW, now: NOW });
    expect(r.points.map((p) => [p.usd_per_hour, p.usd_per_gpu_hour, p.raw_price, p.raw_unit, p.provider])).toEqual([
      ['25', '3.125', '18250', 'month', 'book'],
      ['2.736', '2.736', '0.00076', 'second', 'book'],
    ]);
  });
});
