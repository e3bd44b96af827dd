// Talks to an external scaler the way KEDA does: a plaintext gRPC channel, ScaledObjectRef with the
// ScaledObject's name, namespace and trigger metadata (every value a string), IsActive /
// GetMetricSpec / GetMetrics on each polling interval, and StreamIsActive held open for
// `external-push` triggers. Also a raw client that encodes and decodes the protobuf bytes by hand,
// by field number, so the wire format is checked independently of the proto loader.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_PATH } from '../../collector/features/autoscale/scaler.ts';

export interface Ref {
  name: string;
  namespace: string;
  scalerMetadata: Record<string, string>;
}

type Unary<Req, Res> = (req: Req, cb: (err: grpc.ServiceError | null, res?: Res) => void) => void;

export interface KedaClient {
  isActive(ref: Ref): Promise<boolean>;
  metricSpec(ref: Ref): Promise<{ metricName: string; targetSize: number; targetSizeFloat: number }[]>;
  metrics(ref: Ref, metricName: string): Promise<{ metricName: string; metricValue: number; metricValueFloat: number }[]>;
  stream(ref: Ref): { values: boolean[]; next(timeoutMs?: number): Promise<boolean>; cancel(): void; error: () => Error | undefined };
  close(): void;
}

export function kedaClient(address: string): KedaClient {
  // KEDA's Go stubs use the proto's own field names; longs as numbers for comparison.
  const def = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def).externalscaler as grpc.GrpcObject;
  const Ctor = pkg.ExternalScaler as grpc.ServiceClientConstructor;
  const c = new Ctor(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, unknown>;
  const call = <Req, Res>(m: string, req: Req) =>
    new Promise<Res>((resolve, reject) => {
      (c[m] as Unary<Req, Res>).call(c, req, (err, res) => (err ? reject(err) : resolve(res!)));
    });
  return {
    isActive: async (ref) => (await call<Ref, { result: boolean }>('IsActive', ref)).result,
    metricSpec: async (ref) =>
      (await call<Ref, { metricSpecs: { metricName: string; targetSize: number; targetSizeFloat: number }[] }>('GetMetricSpec', ref)).metricSpecs,
    metrics: async (ref, metricName) =>
      (
        await call<{ scaledObjectRef: Ref; metricName: string }, { metricValues: { metricName: string; metricValue: number; metricValueFloat: number }[] }>(
          'GetMetrics',
          { scaledObjectRef: ref, metricName },
        )
      ).metricValues,
    stream(ref) {
      const values: boolean[] = [];
      let waiters: (() => void)[] = [];
      let failure: Error | undefined;
      const s = (c.StreamIsActive as (r: Ref) => grpc.ClientReadableStream<{ result: boolean }>).call(c, ref);
      s.on('data', (d: { result: boolean }) => {
        values.push(d.result);
        const w = waiters;
        waiters = [];
        for (const f of w) f();
      });
      s.on('error', (e: Error) => {
        failure = e;
        const w = waiters;
        waiters = [];
        for (const f of w) f();
      });
      let read = 0;
      return {
        values,
        error: () => failure,
        async next(timeoutMs = 5_000) {
          const deadline = Date.now() + timeoutMs;
          while (values.length <= read) {
            if (failure) throw failure;
            if (Date.now() > deadline) throw new Error(`no StreamIsActive message within ${timeoutMs} ms (got ${JSON.stringify(values)})`);
            await new Promise<void>((resolve) => {
              waiters.push(resolve);
              setTimeout(resolve, 20).unref();
            });
          }
          return values[read++]!;
        },
        cancel: () => s.cancel(),
      };
    },
    close: () => c.close(),
  };
}

// --- raw protobuf, by field number ----------------------------------------------------------------

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

function lenField(field: number, body: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(body.length), body]);
}

/** ScaledObjectRef: name = 1, namespace = 2, map<string,string> scalerMetadata = 3 (entries: key = 1, value = 2). */
export function encodeRef(ref: Ref): Buffer {
  const parts = [lenField(1, Buffer.from(ref.name)), lenField(2, Buffer.from(ref.namespace))];
  for (const [k, v] of Object.entries(ref.scalerMetadata)) parts.push(lenField(3, Buffer.concat([lenField(1, Buffer.from(k)), lenField(2, Buffer.from(v))])));
  return Buffer.concat(parts);
}

export type RawField = { field: number; wire: number; value: number | Buffer };

export function decodeFields(buf: Buffer): RawField[] {
  const out: RawField[] = [];
  let i = 0;
  const readVarint = () => {
    let n = 0;
    let mul = 1;
    for (;;) {
      const b = buf[i++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
  };
  while (i < buf.length) {
    const key = readVarint();
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ field, wire, value: readVarint() });
    else if (wire === 1) {
      out.push({ field, wire, value: buf.readDoubleLE(i) });
      i += 8;
    } else if (wire === 2) {
      const len = readVarint();
      out.push({ field, wire, value: buf.subarray(i, i + len) });
      i += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

/** A unary call with hand-made bytes on /externalscaler.ExternalScaler/<method>. */
export function rawUnary(address: string, method: string, body: Buffer): Promise<Buffer> {
  const c = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    c.makeUnaryRequest(
      `/externalscaler.ExternalScaler/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      (err, res) => {
        c.close();
        if (err) reject(err);
        else resolve(res!);
      },
    );
  });
}
