// Objects that one running collector shares between the components that write them and the ones
// that read them (a scraper and the autoscaler, price syncs and the autoscaler, …). The collector's
// metrics registry identifies it; whichever component asks first creates the object, and it goes
// away with the registry.
import type { Registry } from 'prom-client';

export function perCollector<T>(make: (registry: Registry) => T): (registry: Registry) => T {
  const byRegistry = new WeakMap<Registry, T>();
  return (registry) => {
    let v = byRegistry.get(registry);
    if (v === undefined) byRegistry.set(registry, (v = make(registry)));
    return v;
  };
}
