import { configDefaults, defineConfig } from 'vitest/config';

// The Ceph hand-off e2e boots one 4 GiB VM for about 40 minutes under TCG. .ci/run starts it as a
// vitest of its own beside `npm test` (appended, CI would pass its time limit) and sets
// KSEED_CEPH_E2E=separate for `npm test`, which then leaves it out. Without that variable every
// test runs, this one included.
const CEPH_E2E = 'test/e2e/ceph.test.ts';
const cephApart = process.env.KSEED_CEPH_E2E === 'separate';
if (cephApart) console.log(`${CEPH_E2E} is left out (KSEED_CEPH_E2E=separate); run it alone with: npx vitest run ${CEPH_E2E}`);

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...(cephApart ? [CEPH_E2E] : [])],
    // Integration tests own network namespaces, BMC simulators and containers;
    // forks keep a crashed peer from taking the runner down with it.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
