import { describe, expect, it } from 'vitest';
import { renderLanConf } from '../../../src/lab/bmc-config.js';

describe('lab SOL wiring', () => {
  const input = {
    name: 'ksl-t-node01',
    port: 18201,
    username: 'admin',
    password: 'pw',
    chassisScript: '/s/n/chassis.sh',
    lanctlScript: '/s/n/lanctl.sh',
  };

  it('gives ipmi_sim a SOL device over plain TCP (no telnet processing), inside the MC block', () => {
    const lines = renderLanConf({ ...input, solPort: 18201 }).split('\n');
    const sol = lines.findIndex((l) => l.trim() === 'sol "tcp:127.0.0.1:18201" 115200');
    expect(sol).toBeGreaterThan(lines.findIndex((l) => l.trim() === 'endlan'));
    expect(sol).toBeGreaterThan(lines.findIndex((l) => l.startsWith('set_working_mc 0x20')));
    expect(renderLanConf(input)).not.toMatch(/^\s*sol /m);
  });
});
