/** Public surface of the embedded DHCP service. */
export { DhcpServer, type DhcpServerOptions } from './server.js';
export {
  AuthoritativeHandler,
  type AuthoritativeConfig,
  type DhcpNode,
  type DhcpEvent,
  type Reply,
  type Source,
  inSubnet,
  destination,
  CLIENT_PORT,
  SERVER_PORT,
  PXE_PORT,
} from './handlers.js';
export { ProxyHandler, type ProxyConfig } from './proxy.js';
export { StateLeaseStore, stateLeaseStore, type LeaseTableApi, type LeaseRow } from './state-store.js';
export { probeDhcp, type ProbeOffer, type ProbeOptions } from './probe.js';
export { type Lease, type LeaseState, type LeaseStore, MemoryLeaseStore, LeaseTable } from './leases.js';
export {
  Arch,
  type BootChoice,
  type BootClient,
  type BootContext,
  type BootFiles,
  DEFAULT_BOOT_FILES,
  chooseBoot,
  describeClient,
  firmwareOf,
  macDashes,
} from './bootfile.js';
export * as codec from './codec.js';
export { DhcpDecodeError, decode, encode, MessageType, Opt, type DhcpPacket } from './codec.js';
