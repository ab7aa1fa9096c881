/** One lab Redfish node kept in memory (lab/redfish/service.ts NodeBackend): the calls it got, and a failing insert on demand. */
import type { InsertMedia } from '../../src/lab/redfish/requests.js';
import type { BootState, NodeView, ResetType } from '../../src/lab/redfish/resources.js';
import { BackendError, type NodeBackend } from '../../src/lab/redfish/service.js';

export class MemoryNode implements NodeBackend {
  calls: string[] = [];
  state: NodeView = {
    lab: 'u1',
    node: 'node01',
    power: 'Off',
    boot: { target: 'None', enabled: 'Disabled' },
    mode: 'Legacy',
    media: { inserted: false, writeProtected: true },
    macs: ['52:54:00:77:00:01', '52:54:01:77:00:01'],
    bmcMac: '02:00:00:77:00:01',
    bmcPort: 18000,
    firmwareVersion: 'test',
  };
  failInsert: string | undefined;
  async view() {
    return structuredClone(this.state);
  }
  async reset(type: ResetType, power: 'On' | 'Off') {
    this.calls.push(`reset ${type} ${power}`);
    if (type === 'On' || type === 'ForceOn') this.state.power = 'On';
    if (type === 'ForceOff') this.state.power = 'Off';
  }
  async setBoot(next: BootState) {
    this.calls.push(`boot ${next.target} ${next.enabled}`);
    this.state.boot = next;
  }
  async insertMedia(m: InsertMedia) {
    if (this.failInsert) throw new BackendError(400, this.failInsert);
    this.calls.push(`insert ${m.image}`);
    this.state.media = { image: m.image, inserted: true, writeProtected: true, transferProtocol: m.protocol };
  }
  async ejectMedia() {
    this.calls.push('eject');
    this.state.media = { inserted: false, writeProtected: true };
  }
}
