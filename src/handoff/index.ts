/** The hand-off's public surface; each concern lives in its own module. */
export { ensureSshKey, registryPassword } from './credentials.js';
export { generateHandoff, type HandoffOptions, type HandoffResult, type NodeReport } from './generate.js';
export { cephScript, cephSteps, kollaSteps, REMOTE_CEPH_DIR, shq, type Step } from './steps.js';
