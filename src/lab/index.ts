/**
 * The virtual lab: what the CLI, the engine and the end-to-end tests call.
 */
export { createLab, readLabPassword, type CreateLabOptions, type CreateLabResult, type LabNodeResult } from './lab.js';
export { destroyLab, type DestroyLabOptions, type DestroyLabResult } from './down.js';
export { labStatus, type LabNodeStatus, type LabStatus } from './status.js';
export { type LabDisk, type LabManifest, type LabNodeManifest, labDir, listLabs, manifestPath, passwordPath, readManifest } from './manifest.js';
export {
  BRIDGE,
  DEFAULT_BMC_PORT_BASE,
  DEFAULT_LAB_NAME,
  DEFAULT_NETWORK,
  type LabNetwork,
  netnsName,
  nodeMac,
  nodeName,
} from './names.js';
export {
  bootDevice,
  powerOnCount,
  powerState,
  readSerial,
  serialSize,
  startDirectBoot,
  vmLastError,
  stopVm,
  vmInput,
  vmPid,
  waitForSerial,
} from './node.js';
export { probeBmc } from './bmc.js';
export { LAB_BMC_IDENTITY } from './bmc-config.js';
export { forgetLabResources, labResourceRows, labResources, recordLabResources, type LabResource } from './resources.js';
export { labNameOfSite, renderLabSite, siteMarker } from './site.js';
export type { Firmware } from './vm.js';
