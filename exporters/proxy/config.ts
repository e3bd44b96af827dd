// Configuration of the metering proxy (the `proxy:` section).
import { z } from 'zod';

export const proxyConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
  })
  .prefault({});

export type ProxyConfig = z.infer<typeof proxyConfigSchema>;
