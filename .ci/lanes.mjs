// The test lanes of .ci/run: each lane is one vitest process (its files one at a time, as in
// `npm test`), and the lanes run at the same time. Every test file vitest finds
// (vitest.config.ts's include/exclude) must match exactly one lane, or .ci/run fails before any
// test starts; a lane that matches no file (the Ceph e2e before it lands) is left out.
//
//   name     the lane's name in the log and in its report files (<out>/<name>.json, .log)
//   include  globs relative to the repo root (** any folders, * any name part)
//   exclude  globs taken back out of include
//   copy     run the lane from a copy of the checkout (dist/ included; node_modules and cache
//            linked): nothing the other lanes do to the checkout can change files under it
//
// To move a file to another lane: add its path to that lane's include and to its old lane's
// exclude (or take it out of the old include). `node .ci/run-lanes.mjs --plan` prints the
// assignment without running anything; test/unit/ci/lanes.test.ts checks it.
//
// Why these lanes: the e2e files boot TCG VMs and take two thirds of the test time; everything
// else runs beside them. Which files may run at the same time as which was audited for fixed
// names, ports and paths (see .ci/LANES.md); re-check it when a lane gets a new kind of test.
export const LANES = [
  {
    // the Debian node OS e2e, then issue 17's Ceph part on its node05 (up to a running mon and
    // mgr): the longest file by far (about 55 min under TCG), so it has a lane of its own
    name: 'vm',
    include: ['test/e2e/nodeos.test.ts'],
    copy: true,
  },
  {
    // the other VM e2e files (Ironic, embedded, hand-off, air gap) one after another, beside the
    // nodeos lane; the full Ceph e2e is opt-in (KSEED_CEPH_E2E=1, over an hour) and skipped here
    name: 'vm2',
    include: ['test/e2e/**/*.test.ts'],
    exclude: ['test/e2e/nodeos.test.ts'],
    copy: true,
  },
  {
    name: 'rest',
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
  },
];
