// Configuration of the metric scrapers (the `scrape:` section).
import { z } from 'zod';

export const scrapeConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
  })
  .prefault({});

export type ScrapeConfig = z.infer<typeof scrapeConfigSchema>;
