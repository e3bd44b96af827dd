// OTLP/HTTP protobuf bodies (ExportTraceServiceRequest), decoded with protobufjs from the message
// definitions below. They are the subset of opentelemetry-proto (Apache-2.0,
// https://github.com/open-telemetry/opentelemetry-proto: opentelemetry/proto/collector/trace/v1/
// trace_service.proto, trace/v1/trace.proto, resource/v1/resource.proto, common/v1/common.proto)
// that the receiver reads, with the upstream field numbers and types; fields left out (events, links,
// trace_state, dropped counts, flags) are skipped by the decoder as unknown fields, as proto3 allows.
import protobuf from 'protobufjs';
import type { AttrValue, Attributes, Span } from './spans.ts';
import { nanosToMs } from './spans.ts';

const DEFINITIONS = {
  nested: {
    ExportTraceServiceRequest: { fields: { resourceSpans: { rule: 'repeated', type: 'ResourceSpans', id: 1 } } },
    ExportTraceServiceResponse: { fields: { partialSuccess: { type: 'ExportTracePartialSuccess', id: 1 } } },
    ExportTracePartialSuccess: { fields: { rejectedSpans: { type: 'int64', id: 1 }, errorMessage: { type: 'string', id: 2 } } },
    ResourceSpans: {
      fields: {
        resource: { type: 'Resource', id: 1 },
        scopeSpans: { rule: 'repeated', type: 'ScopeSpans', id: 2 },
        schemaUrl: { type: 'string', id: 3 },
      },
    },
    Resource: { fields: { attributes: { rule: 'repeated', type: 'KeyValue', id: 1 } } },
    ScopeSpans: {
      fields: {
        scope: { type: 'InstrumentationScope', id: 1 },
        spans: { rule: 'repeated', type: 'Span', id: 2 },
        schemaUrl: { type: 'string', id: 3 },
      },
    },
    InstrumentationScope: { fields: { name: { type: 'string', id: 1 }, version: { type: 'string', id: 2 } } },
    Span: {
      fields: {
        traceId: { type: 'bytes', id: 1 },
        spanId: { type: 'bytes', id: 2 },
        parentSpanId: { type: 'bytes', id: 4 },
        name: { type: 'string', id: 5 },
        kind: { type: 'int32', id: 6 },
        startTimeUnixNano: { type: 'fixed64', id: 7 },
        endTimeUnixNano: { type: 'fixed64', id: 8 },
        attributes: { rule: 'repeated', type: 'KeyValue', id: 9 },
        status: { type: 'Status', id: 15 },
      },
    },
    Status: { fields: { message: { type: 'string', id: 2 }, code: { type: 'int32', id: 3 } } },
    KeyValue: { fields: { key: { type: 'string', id: 1 }, value: { type: 'AnyValue', id: 2 } } },
    AnyValue: {
      oneofs: { value: { oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'] } },
      fields: {
        stringValue: { type: 'string', id: 1 },
        boolValue: { type: 'bool', id: 2 },
        intValue: { type: 'int64', id: 3 },
        doubleValue: { type: 'double', id: 4 },
        arrayValue: { type: 'ArrayValue', id: 5 },
        kvlistValue: { type: 'KeyValueList', id: 6 },
        bytesValue: { type: 'bytes', id: 7 },
      },
    },
    ArrayValue: { fields: { values: { rule: 'repeated', type: 'AnyValue', id: 1 } } },
    KeyValueList: { fields: { values: { rule: 'repeated', type: 'KeyValue', id: 1 } } },
  },
};

const root = protobuf.Root.fromJSON(DEFINITIONS);
const RequestType = root.lookupType('ExportTraceServiceRequest');
const ResponseType = root.lookupType('ExportTraceServiceResponse');

// The decoded message objects, as far as this module reads them.
interface PbLong {
  low: number;
  high: number;
}
interface PbAnyValue {
  value?: string;
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | PbLong;
  doubleValue?: number;
  arrayValue?: { values?: PbAnyValue[] };
  kvlistValue?: { values?: PbKeyValue[] };
  bytesValue?: Uint8Array;
}
interface PbKeyValue {
  key?: string;
  value?: PbAnyValue;
}
interface PbSpan {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  parentSpanId?: Uint8Array;
  name?: string;
  kind?: number;
  startTimeUnixNano?: number | PbLong;
  endTimeUnixNano?: number | PbLong;
  attributes?: PbKeyValue[];
  status?: { message?: string; code?: number };
}
interface PbRequest {
  resourceSpans?: { resource?: { attributes?: PbKeyValue[] }; scopeSpans?: { scope?: { name?: string }; spans?: PbSpan[] }[] }[];
}

/** Spans of a protobuf ExportTraceServiceRequest; throws when the bytes are not one. */
export function spansFromProtobuf(body: Uint8Array): Span[] {
  const req = RequestType.decode(body) as unknown as PbRequest;
  const out: Span[] = [];
  for (const rs of req.resourceSpans ?? []) {
    const resource = pbAttributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      const scope = ss.scope?.name ?? '';
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          name: s.name ?? '',
          kind: s.kind ?? 0,
          startMs: nanosToMs(s.startTimeUnixNano),
          endMs: nanosToMs(s.endTimeUnixNano),
          attributes: pbAttributes(s.attributes),
          statusCode: s.status?.code ?? 0,
          statusMessage: s.status?.message ?? '',
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

/** The protobuf ExportTraceServiceResponse, with a partial success when spans were refused. */
export function protobufResponse(rejectedSpans: number, errorMessage: string): Uint8Array {
  const msg = rejectedSpans > 0 ? { partialSuccess: { rejectedSpans, errorMessage } } : {};
  return ResponseType.encode(ResponseType.fromObject(msg)).finish();
}

function hex(b: Uint8Array | undefined): string {
  return b && b.length > 0 ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') : '';
}

function pbAttributes(list: PbKeyValue[] | undefined): Attributes {
  const out: Attributes = {};
  for (const kv of list ?? []) if (kv.key !== undefined) out[kv.key] = pbValue(kv.value);
  return out;
}

// Decoded messages carry every field's default on their prototype, so which one of AnyValue's
// fields was sent is read from the oneof (`value` names it), not from which field is defined.
function pbValue(v: PbAnyValue | undefined): AttrValue {
  switch (v?.value) {
    case 'stringValue':
      return v.stringValue ?? '';
    case 'boolValue':
      return v.boolValue ?? false;
    case 'intValue': {
      const i = v.intValue ?? 0;
      return typeof i === 'number' ? i : i.high * 2 ** 32 + (i.low >>> 0);
    }
    case 'doubleValue':
      return v.doubleValue ?? 0;
    case 'arrayValue':
      return (v.arrayValue?.values ?? []).map(pbValue);
    case 'kvlistValue':
      return pbAttributes(v.kvlistValue?.values);
    case 'bytesValue':
      return Buffer.from(v.bytesValue ?? []).toString('base64');
    default:
      return null;
  }
}
