/* global window, document -- runs in the browser */
// The page a chat UI would be: Faro web SDK for logs, errors and measurements, and an OpenTelemetry
// tracer whose spans go out through Faro (as @grafana/faro-web-tracing's exporter does). It logs,
// throws, measures and traces once, then marks itself done.
import { faro, getWebInstrumentations, initializeFaro, LogLevel } from '@grafana/faro-web-sdk';
import { context, trace } from '@opentelemetry/api';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

const cfg = window.LLMETER_FARO;

initializeFaro({
  url: cfg.url,
  apiKey: cfg.apiKey,
  app: { name: 'browser-test', version: '1.0.0', environment: 'test' },
  instrumentations: getWebInstrumentations({ captureConsole: false }),
  batching: { enabled: true, sendTimeout: 100 },
});

const faroExporter = {
  export(spans, done) {
    const body = JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans)));
    faro.api.pushTraces(body);
    done({ code: 0 });
  },
  shutdown: async () => {},
};
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'browser-test' }),
  spanProcessors: [new SimpleSpanProcessor(faroExporter)],
});
trace.setGlobalTracerProvider(provider);
faro.api.initOTEL(trace, context);

const tracer = trace.getTracer('browser-test');
const span = tracer.startSpan('chat.send', { attributes: { 'chat.model': 'llama3.1:8b' } });
const spanContext = span.spanContext();
faro.api.pushLog([`chat request sent ${cfg.marker}`], { level: LogLevel.INFO, spanContext });
faro.api.pushMeasurement({ type: 'chat', values: { ttft_ms: 321 } }, { context: { marker: cfg.marker } });
faro.api.pushEvent('chat_opened', { marker: cfg.marker });
setTimeout(() => {
  span.end();
  // Uncaught: the SDK's error instrumentation reports it.
  setTimeout(() => {
    throw new Error(`boom ${cfg.marker}`);
  }, 0);
  setTimeout(() => {
    document.getElementById('status').textContent = 'done';
    window.LLMETER_DONE = true;
  }, 50);
}, 20);
