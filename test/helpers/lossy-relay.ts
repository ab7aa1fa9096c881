/** The lossy UDP relay lives with the lab's fault tools (src/lab/sim/relay.ts); the IPMI lossy tests import it from here. */
export * from '../../src/lab/sim/relay.js';
