// Debian's Chromium as the browser tests drive it through playwright-core.

export const CHROMIUM = '/usr/bin/chromium';

/** Headless, no sandbox (tests run as root in containers), no GPU, and no traffic of its own. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
