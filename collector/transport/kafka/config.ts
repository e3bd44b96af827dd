// Configuration of the Kafka transport (the `transport.kafka:` section), used when transport.kind is kafka.
import { z } from 'zod';

export const kafkaConfigSchema = z
  .strictObject({
    brokers: z.array(z.string()).default(['127.0.0.1:9092']),
  })
  .prefault({});

export type KafkaConfig = z.infer<typeof kafkaConfigSchema>;
