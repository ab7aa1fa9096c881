/**
 * A deploy whose Ironic conductor died holding the node mid-step
 * (ironic.conductors >= 2): once it missed [conductor]heartbeat_timeout,
 * the conductor that took the node over failed the step ("Operation was
 * aborted due to conductor take over"). Not the node's fault: it is deployed
 * again, once, by the conductor that has it now.
 */
import { isTakeoverAbort, type IronicNode } from '../ironic/index.js';

export async function deployOverTakeover(first: () => Promise<IronicNode>, again: () => Promise<IronicNode>, say: (message: string) => void): Promise<IronicNode> {
  try {
    return await first();
  } catch (err) {
    if (!isTakeoverAbort(err)) throw err;
    say(`Ironic: ${err.lastError}; deploying again on the conductor that took the node over`);
    return again();
  }
}
