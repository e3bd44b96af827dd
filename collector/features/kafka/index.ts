// The Kafka transport's entry points, for the runtime: the producer sink exporters write to when
// transport.kind is kafka, and the consumer-group member that feeds the pipeline from Kafka.
import type { Registry } from 'prom-client';
import type { BackgroundFailures } from '../../core/lifecycle/background.ts';
import type { Component } from '../../core/lifecycle/component.ts';
import type { Logger } from '../../core/log.ts';
import type { PipelineConfig } from '../../core/config/schema.ts';
import type { Pipeline } from '../../core/pipeline/pipeline.ts';
import { ensureTopics } from './admin.ts';
import { createKafkaClient } from './client.ts';
import type { KafkaConfig, TransportConfig } from './config.ts';
import { KafkaConsumer } from './consumer.ts';
import { KafkaSink } from './producer-sink.ts';

export { ensureTopics } from './admin.ts';
export { createKafkaClient } from './client.ts';
export { kafkaConfigSchema, transportConfigSchema, type KafkaConfig, type TransportConfig } from './config.ts';
export { KafkaConsumer, type CommittedBatch, type ConsumerTarget, type KafkaConsumerOptions } from './consumer.ts';
export { KafkaSink, type KafkaSinkOptions } from './producer-sink.ts';
export { DiskSpool } from './spool.ts';
export { allTopics, messageKey, topicName } from './topics.ts';

export interface KafkaFactoryOptions {
  /** Environment for `sasl.password_env` (the runtime passes process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The RecordSink exporters publish to in scale-out mode (also a Component: start it before the
 * exporters, shut it down after them). Topics are created or verified when Kafka is first reached.
 */
export function createKafkaSink(config: KafkaConfig, registry: Registry, log: Logger, opts: KafkaFactoryOptions = {}): KafkaSink {
  const l = log.child('kafka-producer');
  const kafka = createKafkaClient(config, l, { env: opts.env, role: 'producer' });
  return new KafkaSink({ config, kafka, registry, log: l, prepare: () => ensureTopics(kafka, config, l).then(() => undefined) });
}

/** What the consumer needs of the core. */
export interface ConsumerCore {
  pipeline: Pipeline;
  pipelineConfig: PipelineConfig;
  registry: Registry;
  log: Logger;
  failures?: BackgroundFailures;
}

/** The consumer-group member of a collector with transport kind kafka that consumes; none otherwise. */
export function kafkaConsumerComponents(transport: TransportConfig, core: ConsumerCore, opts: KafkaFactoryOptions = {}): Component[] {
  if (transport.kind !== 'kafka' || !transport.kafka.consume) return [];
  const t = transport;
  const log = core.log.child('kafka-consumer');
  const kafka = createKafkaClient(t.kafka, log, { env: opts.env, role: 'consumer' });
  const consumer = new KafkaConsumer({
    config: t.kafka,
    pipelineConfig: core.pipelineConfig,
    kafka,
    target: core.pipeline,
    registry: core.registry,
    log,
    failures: core.failures,
  });
  return [
    {
      name: consumer.name,
      async start() {
        await ensureTopics(kafka, t.kafka, log);
        await consumer.start();
      },
      forceFlush: () => consumer.forceFlush(),
      shutdown: () => consumer.shutdown(),
    },
  ];
}
