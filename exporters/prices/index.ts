// Builds this feature's running components from the configuration (none while it is disabled).
import type { Component } from '../../collector/lifecycle/component.ts';
import type { RuntimeContext } from '../../collector/runtime.ts';

export function pricesComponents(ctx: RuntimeContext): Component[] {
  if (!ctx.config.prices.enabled) return [];
  return [];
}
