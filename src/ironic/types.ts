/**
 * The parts of Ironic's Bare Metal API (v1) kseed uses, typed. Field names
 * are Ironic's own (snake_case), as the API reference spells them:
 * https://docs.openstack.org/api-ref/baremetal/
 */

/** Provision states Ironic reports (Ironic's "Bare Metal state machine"). */
export type ProvisionState =
  | 'enroll'
  | 'verifying'
  | 'manageable'
  | 'inspecting'
  | 'inspect wait'
  | 'inspect failed'
  | 'cleaning'
  | 'clean wait'
  | 'clean failed'
  | 'available'
  | 'deploying'
  | 'wait call-back'
  | 'deploy failed'
  | 'active'
  | 'deleting'
  | 'error'
  | 'rebuild'
  | 'adopting'
  | 'adopt failed'
  | 'rescuing'
  | 'rescue wait'
  | 'rescue failed'
  | 'rescue'
  | 'unrescuing'
  | 'unrescue failed'
  | 'servicing'
  | 'service wait'
  | 'service failed'
  // API < 1.11 shows "available" as null; kept so a misconfigured client reads it honestly
  | null;

/** Targets of PUT /v1/nodes/{node}/states/provision. */
export type ProvisionTarget = 'manage' | 'provide' | 'inspect' | 'active' | 'rebuild' | 'deleted' | 'abort' | 'clean' | 'adopt';

export type PowerStateName = 'power on' | 'power off' | 'error' | null;
/** Targets of PUT /v1/nodes/{node}/states/power. */
export type PowerTarget = 'power on' | 'power off' | 'rebooting' | 'soft power off' | 'soft rebooting';

export type BootDeviceName = 'pxe' | 'disk' | 'cdrom' | 'bios' | 'safe' | 'wanboot';

/** Hardware interfaces a node can name at creation (API 1.31+). */
export interface NodeInterfaces {
  bios_interface?: string;
  boot_interface?: string;
  console_interface?: string;
  deploy_interface?: string;
  inspect_interface?: string;
  management_interface?: string;
  network_interface?: string;
  power_interface?: string;
  raid_interface?: string;
  rescue_interface?: string;
  storage_interface?: string;
  vendor_interface?: string;
}

export interface NodeCreate extends NodeInterfaces {
  name: string;
  driver: string;
  /** BMC address and credentials; Ironic answers passwords as "******". */
  driver_info?: Record<string, unknown>;
  properties?: Record<string, unknown>;
  extra?: Record<string, unknown>;
  resource_class?: string;
  description?: string;
  uuid?: string;
}

export interface IronicNode extends NodeInterfaces {
  uuid: string;
  name: string | null;
  driver: string;
  provision_state: ProvisionState;
  target_provision_state: ProvisionState;
  power_state: PowerStateName;
  target_power_state: PowerStateName;
  last_error: string | null;
  /** e.g. "power failure" when Ironic put the node in maintenance itself. */
  fault?: string | null;
  maintenance?: boolean;
  maintenance_reason?: string | null;
  driver_info?: Record<string, unknown>;
  instance_info?: Record<string, unknown>;
  properties?: Record<string, unknown>;
  extra?: Record<string, unknown>;
  provision_updated_at?: string | null;
  updated_at?: string | null;
  created_at?: string;
  inspection_finished_at?: string | null;
  inspection_started_at?: string | null;
  [key: string]: unknown;
}

export interface IronicPort {
  uuid: string;
  address: string;
  node_uuid: string;
  pxe_enabled?: boolean;
  extra?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface PortCreate {
  /** Node uuid (ports reference nodes by uuid only). */
  node_uuid: string;
  address: string;
  pxe_enabled?: boolean;
  extra?: Record<string, unknown>;
}

/** RFC 6902 JSON Patch, as PATCH /v1/nodes/{node} takes it. */
export type JsonPatchOp =
  | { op: 'add' | 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

export interface ValidateResult {
  result: boolean | null;
  reason?: string | null;
}
/** GET /v1/nodes/{node}/validate: one entry per interface (power, management, deploy, boot, ...). */
export type NodeValidation = Record<string, ValidateResult>;

export interface NodeStates {
  provision_state: ProvisionState;
  target_provision_state: ProvisionState;
  power_state: PowerStateName;
  target_power_state: PowerStateName;
  last_error: string | null;
  [key: string]: unknown;
}

export interface BootDeviceInfo {
  boot_device: BootDeviceName | null;
  persistent: boolean | null;
}

/** A config drive: a URL / gzipped+base64 ISO, or (API 1.56+) the pieces Ironic builds one from. */
export type ConfigDrive =
  | string
  | {
      meta_data?: Record<string, unknown>;
      user_data?: string | Record<string, unknown>;
      network_data?: Record<string, unknown>;
      vendor_data?: Record<string, unknown>;
    };

/** What GET / says about the API's version range. */
export interface ApiVersions {
  min: string;
  max: string;
}
