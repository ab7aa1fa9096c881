export { compareVersions, IRONIC_API_VERSION, IronicClient, type IronicClientOptions, type VerbOptions, type WaitOptions } from './client.js';
export { faultOf, IronicError, IronicNodeFailed, IronicTimeout, IronicVersionError, isTakeoverAbort } from './errors.js';
export type * from './types.js';
