export { IpmiBmc, type IpmiBmcOptions } from './client.js';
export { IpmiSession, type SessionOptions, type PrivilegeName, type SessionPrivilege } from './session.js';
export { UdpTransport, type TransportOptions } from './transport.js';
export { CIPHER_SUITES, SUITE_PREFERENCE } from './crypto.js';
export { vendorName, IANA_VENDORS, type DeviceId, type ChassisStatus, type BootFlags, type FruInventory } from './commands.js';
export { SolConsole, SolBusyError, type SolConsoleOptions, type SolEnd } from './sol.js';
