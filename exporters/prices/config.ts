// Configuration of price sources and interruption watchers (the `prices:` section).
import { z } from 'zod';

export const pricesConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
  })
  .prefault({});

export type PricesConfig = z.infer<typeof pricesConfigSchema>;
