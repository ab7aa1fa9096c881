/**
 * The Ironic stack's boot backend: what each node's iPXE script does by its
 * kseed lifecycle state. Deploying nodes chain to Ironic's per-node config
 * (and no token is minted, the engine's stays valid); active nodes boot
 * their disk; unknown MACs get nothing. State store on a temp dir, no sockets.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chainToScript } from '../../../src/boot/ipxe.js';
import { IronicChainBackend, ironicConfigUrl } from '../../../src/boot/agent.js';
import { parseAgentArgs } from '../../../src/service/agent.js';
import { chooseRootDevice } from '../../../src/engine/rootdevice.js';
import { openState, type StateStore } from '../../../src/engine/state.js';
import type { NodeSpec } from '../../../src/site/types.js';

let dir: string;
let store: StateStore;
const node: NodeSpec = {
  name: 'node01',
  bmc: { type: 'ipmi', address: '127.0.0.1', port: 17599, username: 'admin', password: { env: 'X' } },
  macs: ['52:54:00:77:AF:01'],
  roles: ['compute'],
  image: { url: 'http://10.77.0.1:8080/artifacts/os.raw', checksum: `sha256:${'a'.repeat(64)}`, format: 'raw' },
};
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-agent-'));
  store = openState(dir);
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const backend = () => new IronicChainBackend({ store, nodes: [node], chooseRootDevice, httpUrl: 'http://10.77.0.1:8080/' });

describe('IronicChainBackend', () => {
  it('a deploying node chains to Ironic\'s per-MAC config, and its agent token stays valid', () => {
    store.ensureNode('node01');
    store.transition('node01', 'deploying');
    const token = store.issueNodeToken('node01', 'agent', 60_000);
    const b = backend();
    expect(b.nodeByMac('52:54:00:77:af:01')).toEqual({
      name: 'node01',
      macs: ['52:54:00:77:af:01'],
      action: 'chain',
      chainUrl: 'http://10.77.0.1:8080/pxelinux.cfg/52-54-00-77-af-01',
    });
    expect(b.verifyToken('node01', token)).toBe(true);
    // the agent API still hands the ramdisk its deploy task
    expect(b.taskFor('node01').task).toBe('deploy');
  });

  it('active boots the local disk, available boots nothing, an unknown MAC is unknown', () => {
    store.ensureNode('node01');
    store.transition('node01', 'active');
    expect(backend().nodeByMac('52:54:00:77:af:01')?.action).toBe('local');
    store.transition('node01', 'available');
    expect(backend().nodeByMac('52:54:00:77:af:01')?.action).toBe('none');
    expect(backend().nodeByMac('52:54:00:77:af:99')).toBeUndefined();
  });

  it('the chain script hands over and exits when the config is missing; unsafe URLs are refused', () => {
    const s = chainToScript('node01', ironicConfigUrl('http://10.77.0.1:8080', '52:54:00:77:af:01'));
    expect(s.split('\n')).toEqual([
      '#!ipxe',
      'echo kseed: node01: chaining to http://10.77.0.1:8080/pxelinux.cfg/52-54-00-77-af-01',
      'chain --autofree http://10.77.0.1:8080/pxelinux.cfg/52-54-00-77-af-01 || echo kseed: node01: no script at http://10.77.0.1:8080/pxelinux.cfg/52-54-00-77-af-01',
      'exit',
      '',
    ]);
    expect(() => chainToScript('node01', 'http://x/${evil}')).toThrow(/not safe/);
  });

  it('parses the service manager\'s command line', () => {
    expect(parseAgentArgs(['--config', '/s/kseed.yaml', '--json', 'boot', 'serve', '--artifacts', '/a', '--kernel', 'k'])).toEqual({
      config: '/s/kseed.yaml',
      artifacts: '/a',
      kernel: 'k',
      initrd: 'initramfs.gz',
    });
    expect(() => parseAgentArgs(['--json'])).toThrow(/--config/);
    expect(() => parseAgentArgs(['--config', 'x', '--dhcp', 'on'])).toThrow(/unknown argument --dhcp/);
  });
});
