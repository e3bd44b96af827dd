// Builds the kafkajs client from the configuration: brokers, TLS, SASL (secrets read from files or
// the environment named in the config), and kafkajs' log lines routed into the collector's logger.
import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type KafkaConfig as KafkaJsConfig, type logCreator, type SASLOptions } from 'kafkajs';
import type { Logger } from '../../core/log.ts';
import type { KafkaConfig } from './config.ts';
import './kafkajs-fixes.ts';

export interface ClientOptions {
  /** Environment to read `password_env` from; the caller passes process.env at the edge. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Suffix of the client id (producer, consumer…). */
  role?: string;
}

function saslPassword(sasl: NonNullable<KafkaConfig['sasl']>, env: Readonly<Record<string, string | undefined>>): string {
  if (sasl.password_file) return readFileSync(sasl.password_file, 'utf8').trim();
  if (sasl.password_env) {
    const v = env[sasl.password_env];
    if (v === undefined) throw new Error(`transport.kafka.sasl.password_env: ${sasl.password_env} is not set`);
    return v;
  }
  if (sasl.password !== undefined) return sasl.password;
  throw new Error('transport.kafka.sasl: set password_file, password_env or password');
}

function saslOptions(cfg: KafkaConfig, env: Readonly<Record<string, string | undefined>>): SASLOptions | undefined {
  if (!cfg.sasl) return undefined;
  const password = saslPassword(cfg.sasl, env);
  const username = cfg.sasl.username;
  switch (cfg.sasl.mechanism) {
    case 'plain':
      return { mechanism: 'plain', username, password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username, password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username, password };
  }
}

function sslOptions(cfg: KafkaConfig): KafkaJsConfig['ssl'] {
  const s = cfg.ssl;
  if (!s || !s.enabled) return undefined;
  return {
    rejectUnauthorized: s.reject_unauthorized,
    ...(s.ca_file ? { ca: [readFileSync(s.ca_file, 'utf8')] } : {}),
    ...(s.cert_file ? { cert: readFileSync(s.cert_file, 'utf8') } : {}),
    ...(s.key_file ? { key: readFileSync(s.key_file, 'utf8') } : {}),
    ...(s.servername ? { servername: s.servername } : {}),
  };
}

// kafkajs logs every reconnect attempt as an error; while the spool covers an outage those lines
// are expected, so they are kept at debug and the transport logs its own state changes.
function logAdapter(log: Logger): logCreator {
  return () =>
    ({ level, log: entry }) => {
      const { message, ...fields } = entry;
      if (level <= logLevel.ERROR) log.debug(`kafkajs: ${message}`, { ...fields, kafkajs_level: 'error' });
      else if (level === logLevel.WARN) log.debug(`kafkajs: ${message}`, { ...fields, kafkajs_level: 'warn' });
    };
}

/**
 * How the client retries connecting. kafkajs nests retries: a send that finds the broker gone
 * reconnects with these (more than once), inside the producer's own retries, so with the consumer's
 * patient settings one send against an unreachable broker went on well past
 * `producer.send_timeout_ms`, and past the shutdown of the process that made it. The producer's
 * client retries as briefly as the producer itself: the sink's deadline and its spool replay are the
 * longer retry.
 */
function connectRetry(cfg: KafkaConfig, role: string | undefined): NonNullable<KafkaJsConfig['retry']> {
  if (role === 'producer') return { retries: cfg.producer.retries, initialRetryTime: 100, maxRetryTime: 1_000 };
  return { retries: 5, initialRetryTime: 200, maxRetryTime: 5_000 };
}

export function createKafkaClient(cfg: KafkaConfig, log: Logger, opts: ClientOptions = {}): Kafka {
  return new Kafka({
    clientId: opts.role ? `${cfg.client_id}-${opts.role}` : cfg.client_id,
    brokers: cfg.brokers,
    ssl: sslOptions(cfg),
    sasl: saslOptions(cfg, opts.env ?? {}),
    connectionTimeout: cfg.connection_timeout_ms,
    requestTimeout: cfg.request_timeout_ms,
    logLevel: logLevel.WARN,
    logCreator: logAdapter(log),
    retry: connectRetry(cfg, opts.role),
  });
}
