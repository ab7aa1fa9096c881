/**
 * The JSON a lab Redfish BMC serves, built from one node's current state.
 * Shapes follow DMTF's schemas (DSP8010): ServiceRoot v1_5, ComputerSystem
 * v1_13 (PowerState, Boot, #ComputerSystem.Reset), Manager v1_10,
 * VirtualMedia v1_3 (#VirtualMedia.InsertMedia/EjectMedia), SessionService
 * v1_1, Session v1_3, EthernetInterface v1_6. Pure: no I/O, so the shapes are
 * unit-tested without sockets.
 */
import { createHash } from 'node:crypto';

export type Json = Record<string, unknown>;

export const ROOT = '/redfish/v1/';
export const SYSTEM_ID = 'System';
export const MANAGER_ID = 'BMC';
export const MEDIA_ID = 'Cd';
export const SYSTEMS = '/redfish/v1/Systems';
export const SYSTEM = `${SYSTEMS}/${SYSTEM_ID}`;
export const RESET_TARGET = `${SYSTEM}/Actions/ComputerSystem.Reset`;
export const MANAGERS = '/redfish/v1/Managers';
export const MANAGER = `${MANAGERS}/${MANAGER_ID}`;
export const MEDIA_COLLECTION = `${MANAGER}/VirtualMedia`;
export const MEDIA = `${MEDIA_COLLECTION}/${MEDIA_ID}`;
export const INSERT_TARGET = `${MEDIA}/Actions/VirtualMedia.InsertMedia`;
export const EJECT_TARGET = `${MEDIA}/Actions/VirtualMedia.EjectMedia`;
export const SESSION_SERVICE = '/redfish/v1/SessionService';
export const SESSIONS = `${SESSION_SERVICE}/Sessions`;

/** Resource.ResetType values this BMC carries out (see backend.ts for what each does to the VM). */
export const RESET_TYPES = ['On', 'ForceOn', 'ForceOff', 'GracefulShutdown', 'ForceRestart', 'PowerCycle', 'PushPowerButton'] as const;
export type ResetType = (typeof RESET_TYPES)[number];

/** ComputerSystem.BootSource values the VM's boot order can express. */
export const BOOT_TARGETS = ['None', 'Pxe', 'Hdd', 'Cd'] as const;
export type BootTarget = (typeof BOOT_TARGETS)[number];
export const BOOT_ENABLED = ['Disabled', 'Once', 'Continuous'] as const;
export type BootEnabled = (typeof BOOT_ENABLED)[number];
export type BootMode = 'UEFI' | 'Legacy';

export interface BootState {
  target: BootTarget;
  enabled: BootEnabled;
}

export interface MediaState {
  /** The URI given to InsertMedia; undefined when nothing is inserted. */
  image?: string;
  inserted: boolean;
  writeProtected: boolean;
  transferProtocol?: 'HTTP' | 'HTTPS';
}

/** What a node's BMC knows about its server at the moment of a request. */
export interface NodeView {
  lab: string;
  node: string;
  power: 'On' | 'Off';
  boot: BootState;
  /** The VM's firmware decides the only mode it can boot in. */
  mode: BootMode;
  media: MediaState;
  /** Host NICs (the PXE NIC first). */
  macs: string[];
  bmcMac: string;
  bmcPort: number;
  firmwareVersion: string;
}

/** A stable UUID per lab node (RFC 4122 layout, version 3 style from an MD5), as SMBIOS would report one. */
export function nodeUuid(lab: string, node: string): string {
  const h = createHash('md5').update(`kseed-lab:${lab}:${node}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x30;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * Strong ETag of a representation (RFC 7232 2.3): a hash of its JSON, so it
 * changes exactly when what a client would read changes.
 */
export function etagOf(resource: Json): string {
  const { '@odata.etag': _e, ...rest } = resource;
  return `"${createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 20)}"`;
}

/** The resource with its `@odata.etag` (DSP0266 "ETags": the same value as the ETag header). */
export function withEtag(resource: Json): Json {
  return { ...resource, '@odata.etag': etagOf(resource) };
}

const link = (id: string) => ({ '@odata.id': id });

export function serviceRoot(v: Pick<NodeView, 'lab' | 'node'>): Json {
  return {
    '@odata.type': '#ServiceRoot.v1_5_0.ServiceRoot',
    '@odata.id': ROOT,
    Id: 'RootService',
    Name: 'kseed lab Redfish service',
    RedfishVersion: '1.8.0',
    UUID: nodeUuid(v.lab, `${v.node}-bmc`),
    Product: 'kseed lab BMC',
    Vendor: 'kseed',
    Systems: link(SYSTEMS),
    Managers: link(MANAGERS),
    SessionService: link(SESSION_SERVICE),
    Links: { Sessions: link(SESSIONS) },
  };
}

export function collection(id: string, type: string, name: string, members: string[]): Json {
  return {
    '@odata.type': `#${type}.${type}`,
    '@odata.id': id,
    Name: name,
    'Members@odata.count': members.length,
    Members: members.map(link),
  };
}

export function computerSystem(v: NodeView): Json {
  return withEtag({
    '@odata.type': '#ComputerSystem.v1_13_0.ComputerSystem',
    '@odata.id': SYSTEM,
    Id: SYSTEM_ID,
    Name: v.node,
    // what the lab's ipmi_sim FRU says, so a hardware profile can match either protocol
    Manufacturer: 'KSLab',
    Model: 'KSLab Virtual Server',
    SerialNumber: `SN-${v.lab}-${v.node}`,
    UUID: nodeUuid(v.lab, v.node),
    HostName: v.node,
    SystemType: 'Virtual',
    PowerState: v.power,
    Status: { State: 'Enabled', Health: 'OK' },
    Boot: {
      BootSourceOverrideEnabled: v.boot.enabled,
      BootSourceOverrideTarget: v.boot.target,
      'BootSourceOverrideTarget@Redfish.AllowableValues': [...BOOT_TARGETS],
      BootSourceOverrideMode: v.mode,
      // the VM's firmware (lab up --uefi-nodes) is fixed: only its own mode can be asked for
      'BootSourceOverrideMode@Redfish.AllowableValues': [v.mode],
    },
    EthernetInterfaces: link(`${SYSTEM}/EthernetInterfaces`),
    Links: { ManagedBy: [link(MANAGER)] },
    Actions: {
      '#ComputerSystem.Reset': {
        target: RESET_TARGET,
        'ResetType@Redfish.AllowableValues': [...RESET_TYPES],
      },
    },
  });
}

const nicId = (i: number) => `NIC${i + 1}`;

export function systemNics(v: NodeView): Json {
  return collection(`${SYSTEM}/EthernetInterfaces`, 'EthernetInterfaceCollection', 'System NICs', v.macs.map((_, i) => `${SYSTEM}/EthernetInterfaces/${nicId(i)}`));
}

/** One host NIC; undefined for an id the node does not have. */
export function systemNic(v: NodeView, id: string): Json | undefined {
  const i = v.macs.findIndex((_, k) => nicId(k) === id);
  if (i < 0) return undefined;
  return {
    '@odata.type': '#EthernetInterface.v1_6_0.EthernetInterface',
    '@odata.id': `${SYSTEM}/EthernetInterfaces/${id}`,
    Id: id,
    Name: `virtio-net ${i + 1}`,
    MACAddress: v.macs[i],
    PermanentMACAddress: v.macs[i],
    InterfaceEnabled: true,
    Status: { State: 'Enabled', Health: 'OK' },
  };
}

export function manager(v: NodeView): Json {
  return withEtag({
    '@odata.type': '#Manager.v1_10_0.Manager',
    '@odata.id': MANAGER,
    Id: MANAGER_ID,
    Name: `${v.node} BMC`,
    ManagerType: 'BMC',
    Model: 'kseed lab BMC',
    FirmwareVersion: v.firmwareVersion,
    UUID: nodeUuid(v.lab, `${v.node}-bmc`),
    Status: { State: 'Enabled', Health: 'OK' },
    VirtualMedia: link(MEDIA_COLLECTION),
    EthernetInterfaces: link(`${MANAGER}/EthernetInterfaces`),
    Links: { ManagerForServers: [link(SYSTEM)] },
  });
}

export function managerNics(): Json {
  return collection(`${MANAGER}/EthernetInterfaces`, 'EthernetInterfaceCollection', 'BMC NICs', [`${MANAGER}/EthernetInterfaces/BMC1`]);
}

export function managerNic(v: NodeView): Json {
  return {
    '@odata.type': '#EthernetInterface.v1_6_0.EthernetInterface',
    '@odata.id': `${MANAGER}/EthernetInterfaces/BMC1`,
    Id: 'BMC1',
    Name: 'BMC port',
    MACAddress: v.bmcMac,
    PermanentMACAddress: v.bmcMac,
    InterfaceEnabled: true,
    IPv4Addresses: [{ Address: '127.0.0.1', SubnetMask: '255.0.0.0', AddressOrigin: 'Static' }],
    Status: { State: 'Enabled', Health: 'OK' },
  };
}

export function mediaCollection(): Json {
  return collection(MEDIA_COLLECTION, 'VirtualMediaCollection', 'Virtual media', [MEDIA]);
}

/** The last path segment of the image URI, as VirtualMedia.ImageName. */
export function imageName(uri: string): string {
  try {
    return decodeURIComponent(new URL(uri).pathname.split('/').pop() ?? '') || uri;
  } catch {
    return uri;
  }
}

export function virtualMedia(v: NodeView): Json {
  const m = v.media;
  return withEtag({
    '@odata.type': '#VirtualMedia.v1_3_0.VirtualMedia',
    '@odata.id': MEDIA,
    Id: MEDIA_ID,
    Name: 'Virtual CD',
    MediaTypes: ['CD', 'DVD'],
    Image: m.image ?? null,
    ImageName: m.image ? imageName(m.image) : null,
    Inserted: m.inserted,
    WriteProtected: m.writeProtected,
    ConnectedVia: m.image ? 'URI' : 'NotConnected',
    TransferMethod: 'Upload',
    TransferProtocolType: m.transferProtocol ?? null,
    Actions: {
      '#VirtualMedia.InsertMedia': { target: INSERT_TARGET, 'TransferProtocolType@Redfish.AllowableValues': ['HTTP', 'HTTPS'] },
      '#VirtualMedia.EjectMedia': { target: EJECT_TARGET },
    },
  });
}

export function sessionService(timeoutSec: number, sessions: number): Json {
  return withEtag({
    '@odata.type': '#SessionService.v1_1_8.SessionService',
    '@odata.id': SESSION_SERVICE,
    Id: 'SessionService',
    Name: 'Session service',
    ServiceEnabled: true,
    SessionTimeout: timeoutSec,
    Status: { State: 'Enabled', Health: 'OK' },
    Sessions: link(SESSIONS),
    Oem: {},
    // a count, so a client can see its DELETE free the slot
    Description: `${sessions} open session(s)`,
  });
}

export function session(id: string, user: string): Json {
  return {
    '@odata.type': '#Session.v1_3_0.Session',
    '@odata.id': `${SESSIONS}/${id}`,
    Id: id,
    Name: `Session ${id}`,
    UserName: user,
  };
}
