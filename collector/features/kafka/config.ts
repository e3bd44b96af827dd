// Configuration of the Kafka transport (the `transport.kafka:` section), used when transport.kind is kafka.
// Exporters publish records to one topic per signal; collectors in one consumer group read them and
// write to ClickHouse. Secrets (SASL password, TLS keys) come from files or the environment, never
// from the configuration text itself when avoidable.
import { z } from 'zod';

const positiveInt = () => z.number().int().positive();

export const kafkaSaslSchema = z
  .strictObject({
    mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).describe('SASL mechanism.'),
    username: z.string().min(1).describe('SASL user name.'),
    password: z.string().optional().describe('SASL password; prefer password_file or password_env.'),
    password_file: z.string().optional().describe('File holding the SASL password.'),
    password_env: z.string().optional().describe('Environment variable holding the SASL password (read at start-up).'),
  })
  .describe('SASL authentication; absent: none.');

export const kafkaSslSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Use TLS to the brokers.'),
    ca_file: z.string().optional().describe('PEM file of the CA(s) to trust; absent: the system store.'),
    cert_file: z.string().optional().describe('Client certificate (PEM) for mutual TLS.'),
    key_file: z.string().optional().describe('Client key (PEM) for mutual TLS.'),
    reject_unauthorized: z.boolean().default(true).describe('Verify the broker certificate (turn off only for testing).'),
    servername: z.string().optional().describe('TLS server name (SNI) when it differs from the broker host.'),
  })
  .describe('TLS to the brokers; absent: plaintext.');

export const kafkaTopicsSchema = z
  .strictObject({
    create: z.boolean().default(true).describe('Create missing topics at start-up; false: only verify they exist.'),
    partitions: positiveInt().default(6).describe('Partitions of a created topic (the most collectors that can share a signal).'),
    replication_factor: positiveInt().default(1).describe('Replicas of a created topic (3 in production).'),
    retention_ms: z
      .number()
      .int()
      .min(-1)
      .default(7 * 24 * 3600 * 1000)
      .describe('retention.ms of a created topic (-1 = forever); how long collectors may be down without loss.'),
    min_insync_replicas: positiveInt().optional().describe('min.insync.replicas of a created topic (2 with replication 3).'),
  })
  .prefault({});

export const kafkaProducerSchema = z
  .strictObject({
    compression: z.enum(['gzip', 'none']).default('gzip').describe('Compression of record batches (gzip is built in).'),
    batch_max_bytes: positiveInt()
      .default(1024 * 1024)
      .describe('Send a batch once this many bytes of records are buffered…'),
    linger_ms: positiveInt().default(200).describe('…or after this many milliseconds, whichever comes first.'),
    buffer_max_bytes: positiveInt()
      .default(32 * 1024 * 1024)
      .describe('Records held in memory; past it submit() waits (or drops with onFull: drop).'),
    send_timeout_ms: positiveInt().default(10_000).describe('How long one send may take before the batch goes to the disk spool.'),
    retries: z.number().int().min(1).default(3).describe('Retries of one send inside the client before the spool takes over.'),
    max_records_per_message: positiveInt()
      .default(500)
      .describe(
        "Records of one topic and key packed into one Kafka message (NDJSON); 1 sends one record per message. Keep it at or under the collectors' consumer.max_batch_records.",
      ),
    max_message_bytes: positiveInt()
      .max(900 * 1024)
      .default(256 * 1024)
      .describe("Bytes of records in one packed message; keep well under the broker's message.max.bytes (1 MiB by default)."),
  })
  .prefault({});

export const kafkaConsumerSchema = z
  .strictObject({
    max_batch_records: positiveInt()
      .default(50_000)
      .describe('Most records in one insert (capped by pipeline.queue_capacity); an insert takes at most what one fetch of a partition holds.'),
    partitions_concurrently: positiveInt().default(4).describe('Partitions processed at once by one collector.'),
    session_timeout_ms: positiveInt().default(30_000).describe('Group session timeout: how long a silent member keeps its partitions.'),
    heartbeat_interval_ms: positiveInt().default(3_000),
    max_bytes_per_partition: positiveInt()
      .default(2 * 1024 * 1024)
      .describe('Largest fetch from one partition.'),
    from_beginning: z.boolean().default(true).describe('A new group starts at the oldest retained record (true) or the newest (false).'),
    lag_interval_ms: positiveInt().default(5_000).describe('How often per-partition lag is measured for /metrics.'),
    resume_check_ms: positiveInt().default(200).describe('How often paused partitions check whether the writer drained.'),
  })
  .prefault({});

export const kafkaConfigSchema = z
  .strictObject({
    brokers: z.array(z.string().min(1)).min(1).default(['127.0.0.1:9092']).describe('Bootstrap brokers, host:port.'),
    client_id: z.string().default('llmeter').describe('Client id the brokers see (quotas, logs).'),
    sasl: kafkaSaslSchema.optional(),
    ssl: kafkaSslSchema.optional(),
    topic_prefix: z
      .string()
      .regex(/^[A-Za-z0-9._-]*$/, 'letters, digits, . _ - only')
      .default('llmeter')
      .describe('Topics are <prefix>.<signal>.v<records version>.'),
    topics: kafkaTopicsSchema,
    group_id: z.string().min(1).default('llmeter-collectors').describe('Consumer group of the collector fleet.'),
    consume: z.boolean().default(true).describe('A collector with transport kafka consumes the topics (false: publish only).'),
    connection_timeout_ms: positiveInt().default(3_000),
    request_timeout_ms: positiveInt().default(30_000),
    spool_dir: z.string().default('./data/kafka-spool').describe('Where producers keep records while Kafka is unreachable.'),
    spool_max_bytes: positiveInt()
      .default(512 * 1024 * 1024)
      .describe('Size bound of the spool; records past it are dropped and counted.'),
    replay_interval_ms: positiveInt().default(1_000).describe('How often a non-empty spool retries Kafka.'),
    producer: kafkaProducerSchema,
    consumer: kafkaConsumerSchema,
  })
  .prefault({});

export type KafkaConfig = z.infer<typeof kafkaConfigSchema>;

/** The `transport:` section: the in-process queue, or Kafka (scale-out). */
export const transportConfigSchema = z
  .strictObject({
    kind: z.enum(['embedded', 'kafka']).default('embedded').describe('embedded: in-process queue; kafka: scale-out.'),
    kafka: kafkaConfigSchema,
  })
  .prefault({});

export type TransportConfig = z.infer<typeof transportConfigSchema>;
