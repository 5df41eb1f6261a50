// vitest settings. The e2e suites start real servers and zusd processes on shared, often loaded
// machines: a 5 s default per test made slow-but-correct runs fail, so the defaults are longer.
// Speed is measured in bench/, never by these limits.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
