// Topic set-up at start-up: create the per-signal topics with the configured partitions, replication
// and retention, or (topics.create: false, for clusters where topics are managed elsewhere) verify
// that they exist and say which are missing or smaller than configured.
import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from '../../core/log.ts';
import type { KafkaConfig } from './config.ts';
import { allTopics } from './topics.ts';

export interface TopicCheck {
  created: string[];
  existing: string[];
  /** Existing topics with fewer partitions than configured (still used; only a warning). */
  fewerPartitions: { topic: string; partitions: number }[];
}

export async function ensureTopics(
  kafka: Kafka,
  cfg: KafkaConfig,
  log: Logger,
  topics: readonly string[] = [...allTopics(cfg.topic_prefix).keys()],
): Promise<TopicCheck> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await ensureWith(admin, cfg, log, topics);
  } finally {
    await admin.disconnect();
  }
}

async function ensureWith(admin: Admin, cfg: KafkaConfig, log: Logger, topics: readonly string[]): Promise<TopicCheck> {
  const present = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !present.has(t));
  const existing = topics.filter((t) => present.has(t));
  if (missing.length > 0 && !cfg.topics.create) {
    throw new Error(`kafka topics missing (transport.kafka.topics.create is false): ${missing.join(', ')}`);
  }
  const t = cfg.topics;
  if (missing.length > 0) {
    const configEntries = [{ name: 'retention.ms', value: String(t.retention_ms) }];
    if (t.min_insync_replicas !== undefined) configEntries.push({ name: 'min.insync.replicas', value: String(t.min_insync_replicas) });
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({ topic, numPartitions: t.partitions, replicationFactor: t.replication_factor, configEntries })),
    });
    log.info('kafka topics created', { topics: missing, partitions: t.partitions, replication_factor: t.replication_factor });
  }
  const fewerPartitions: TopicCheck['fewerPartitions'] = [];
  if (existing.length > 0) {
    const meta = await admin.fetchTopicMetadata({ topics: existing });
    for (const tm of meta.topics) {
      if (tm.partitions.length < t.partitions) {
        fewerPartitions.push({ topic: tm.name, partitions: tm.partitions.length });
        log.warn('kafka topic has fewer partitions than configured; fewer collectors can share it', {
          topic: tm.name,
          partitions: tm.partitions.length,
          configured: t.partitions,
        });
      }
    }
  }
  return { created: missing, existing, fewerPartitions };
}
