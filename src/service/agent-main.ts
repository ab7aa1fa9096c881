/** Process entry of the Ironic stack's agent service (see agent.ts). */
import { agentMain } from './agent.js';

process.exitCode = await agentMain(process.argv.slice(2));
