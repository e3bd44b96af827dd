// What a unit test gets instead of chDB or Chromium (vitest.config.ts points the `chdb` and
// `playwright-core` imports here in the unit project): loading it fails with what to do instead.
throw new Error(
  'a unit test (*.test.ts) loaded chDB or Chromium: tests that open an embedded store, start a collector or drive a browser are integration tests, named *.int.test.ts (see CONTRIBUTING.md)',
);
