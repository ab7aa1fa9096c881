/**
 * What a client may ask of a lab Redfish BMC, checked before anything
 * happens to the VM, and the error answers when it may not: DSP0266 "Error
 * responses" (an `error` object with `@Message.ExtendedInfo` messages from
 * DMTF's Base message registry, Base.1.8). Pure, no sockets.
 */
import {
  BOOT_ENABLED,
  BOOT_TARGETS,
  type BootEnabled,
  type BootMode,
  type BootTarget,
  type Json,
  RESET_TYPES,
  type ResetType,
} from './resources.js';

export interface RfAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: Json;
}

const BASE = 'Base.1.8';

export interface Message {
  id: string;
  message: string;
  args?: string[];
  /** JSON pointers (RFC 6901) of the properties concerned, e.g. `#/Boot/BootSourceOverrideTarget`. */
  related?: string[];
}

/** An error answer: `status` with one or more Base registry messages. */
export function rfError(status: number, ...messages: Message[]): RfAnswer {
  const first = messages[0] ?? { id: 'GeneralError', message: 'A general error has occurred.' };
  return {
    status,
    body: {
      error: {
        code: `${BASE}.${messages.length === 1 ? first.id : 'GeneralError'}`,
        message: messages.length === 1 ? first.message : 'A general error has occurred. See ExtendedInfo for more information.',
        '@Message.ExtendedInfo': messages.map((m) => ({
          '@odata.type': '#Message.v1_1_1.Message',
          MessageId: `${BASE}.${m.id}`,
          Message: m.message,
          MessageArgs: m.args ?? [],
          ...(m.related ? { RelatedProperties: m.related } : {}),
          Severity: status >= 500 ? 'Critical' : 'Warning',
          Resolution: resolutionOf(m.id),
        })),
      },
    },
  };
}

function resolutionOf(id: string): string {
  switch (id) {
    case 'PropertyValueNotInList':
    case 'ActionParameterValueNotInList':
      return 'Choose a value from the enumeration list that the implementation can support and resubmit the request.';
    case 'PropertyUnknown':
    case 'ActionParameterUnknown':
      return 'Remove the unknown property from the request body and resubmit the request.';
    case 'PropertyNotWritable':
      return 'Remove the property from the request body and resubmit the request.';
    case 'ActionParameterMissing':
      return 'Supply the action with the required parameter in the request body.';
    case 'PreconditionFailed':
      return 'Read the resource again for its current ETag, then resubmit the request with that value in If-Match.';
    case 'NoValidSession':
      return 'Establish a session (POST to the Sessions collection) or send HTTP Basic credentials, then resubmit the request.';
    default:
      return 'None.';
  }
}

export const notFound = (path: string): RfAnswer => rfError(404, { id: 'ResourceMissingAtURI', message: `The resource at the URI ${path} was not found.`, args: [path] });

export const notAllowed = (method: string, path: string, allow: string[]): RfAnswer => ({
  ...rfError(405, { id: 'OperationNotAllowed', message: `The ${method} operation is not allowed on ${path}.` }),
  headers: { allow: allow.join(', ') },
});

export const malformed = (why: string): RfAnswer => rfError(400, { id: 'MalformedJSON', message: `The request body submitted was malformed JSON and could not be parsed by the receiving service: ${why}` });

/** The body parsed as a JSON object; an empty body is `{}` (EjectMedia, Reset of some clients). */
export function parseBody(text: string): { ok: true; body: Json } | { ok: false; answer: RfAnswer } {
  if (text.trim() === '') return { ok: true, body: {} };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { ok: false, answer: malformed((e as Error).message) };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, answer: malformed('expected a JSON object') };
  return { ok: true, body: v as Json };
}

const q = (v: unknown) => JSON.stringify(v) ?? String(v);

function notInList(prop: string, pointer: string, value: unknown, kind: 'Property' | 'ActionParameter'): Message {
  return kind === 'Property'
    ? { id: 'PropertyValueNotInList', message: `The value ${q(value)} for the property ${prop} is not in the list of acceptable values.`, args: [String(value), prop], related: [pointer] }
    : { id: 'ActionParameterValueNotInList', message: `The value ${q(value)} for the parameter ${prop} in the action is not in the list of acceptable values.`, args: [String(value), prop], related: [pointer] };
}

/** ComputerSystem.Reset body (DSP8010 ComputerSystem.v1_13 Reset action). */
export function parseReset(body: Json): { ok: true; resetType: ResetType } | { ok: false; answer: RfAnswer } {
  const extra = Object.keys(body).filter((k) => k !== 'ResetType');
  if (extra.length) {
    return { ok: false, answer: rfError(400, ...extra.map((k) => ({ id: 'ActionParameterNotSupported', message: `The parameter ${k} for the action ComputerSystem.Reset is not supported on the target resource.`, args: [k, 'ComputerSystem.Reset'] }))) };
  }
  // DSP8010: ResetType is optional; a service that omits it does what "On" means for a server that is off
  const v = body.ResetType ?? 'On';
  if (typeof v !== 'string' || !(RESET_TYPES as readonly string[]).includes(v)) {
    return { ok: false, answer: rfError(400, notInList('ResetType', '#/ResetType', v, 'ActionParameter')) };
  }
  return { ok: true, resetType: v as ResetType };
}

export interface BootChange {
  target?: BootTarget;
  enabled?: BootEnabled;
  mode?: BootMode;
}

const BOOT_PROPS = ['BootSourceOverrideTarget', 'BootSourceOverrideEnabled', 'BootSourceOverrideMode'];

/**
 * PATCH of a ComputerSystem: only Boot's three override properties are
 * writable here. Every problem is reported at once, nothing is applied
 * when any is found (DSP0266 "PATCH (update)": a 400 changes nothing).
 */
export function parseSystemPatch(body: Json, mode: BootMode): { ok: true; change: BootChange } | { ok: false; answer: RfAnswer } {
  const problems: Message[] = [];
  const change: BootChange = {};
  for (const k of Object.keys(body)) {
    if (k === 'Boot' || k.startsWith('@odata.')) continue;
    problems.push(
      k === 'PowerState' || k === 'Id' || k === 'UUID' || k === 'Name'
        ? { id: 'PropertyNotWritable', message: `The property ${k} is a read only property and cannot be assigned a value.`, args: [k], related: [`#/${k}`] }
        : { id: 'PropertyUnknown', message: `The property ${k} is not in the list of valid properties for the resource.`, args: [k], related: [`#/${k}`] },
    );
  }
  const boot = body.Boot;
  if (boot !== undefined) {
    if (typeof boot !== 'object' || boot === null || Array.isArray(boot)) {
      problems.push({ id: 'PropertyValueTypeError', message: `The value ${q(boot)} for the property Boot is of a different type than the property can accept.`, args: [q(boot), 'Boot'], related: ['#/Boot'] });
    } else {
      for (const [k, v] of Object.entries(boot as Json)) {
        const pointer = `#/Boot/${k}`;
        if (!BOOT_PROPS.includes(k)) {
          problems.push({ id: 'PropertyUnknown', message: `The property ${k} is not in the list of valid properties for the resource.`, args: [k], related: [pointer] });
        } else if (k === 'BootSourceOverrideTarget') {
          if ((BOOT_TARGETS as readonly unknown[]).includes(v)) change.target = v as BootTarget;
          else problems.push(notInList(k, pointer, v, 'Property'));
        } else if (k === 'BootSourceOverrideEnabled') {
          if ((BOOT_ENABLED as readonly unknown[]).includes(v)) change.enabled = v as BootEnabled;
          else problems.push(notInList(k, pointer, v, 'Property'));
        } else if (v === mode) {
          change.mode = mode;
        } else {
          problems.push(notInList(k, pointer, v, 'Property'));
        }
      }
    }
  }
  if (problems.length) return { ok: false, answer: rfError(400, ...problems) };
  return { ok: true, change };
}

export interface InsertMedia {
  image: string;
  inserted: boolean;
  writeProtected: boolean;
  protocol: 'HTTP' | 'HTTPS';
  verifyCertificate: boolean;
}

const INSERT_PARAMS = ['Image', 'Inserted', 'WriteProtected', 'TransferProtocolType', 'TransferMethod', 'UserName', 'Password', 'VerifyCertificate'];

/**
 * VirtualMedia.InsertMedia body (DSP8010 VirtualMedia.v1_3): Image is
 * required; HTTP(S) images only, which is how the BMC fetches them.
 */
export function parseInsertMedia(body: Json): { ok: true; media: InsertMedia } | { ok: false; answer: RfAnswer } {
  const problems: Message[] = [];
  for (const k of Object.keys(body)) {
    if (!INSERT_PARAMS.includes(k)) problems.push({ id: 'ActionParameterUnknown', message: `The action VirtualMedia.InsertMedia was submitted with the invalid parameter ${k}.`, args: ['VirtualMedia.InsertMedia', k], related: [`#/${k}`] });
  }
  const image = body.Image;
  let protocol: 'HTTP' | 'HTTPS' | undefined;
  if (image === undefined || image === null || image === '') {
    problems.push({ id: 'ActionParameterMissing', message: 'The action VirtualMedia.InsertMedia requires the parameter Image to be present in the request body.', args: ['VirtualMedia.InsertMedia', 'Image'], related: ['#/Image'] });
  } else if (typeof image !== 'string' || !/^https?:\/\/[^\s/]+\/\S*$/i.test(image)) {
    problems.push({ id: 'ActionParameterValueFormatError', message: `The value ${q(image)} for the parameter Image in the action VirtualMedia.InsertMedia is of a different format than the parameter can accept: an http:// or https:// URL.`, args: [q(image), 'Image', 'VirtualMedia.InsertMedia'], related: ['#/Image'] });
  } else {
    protocol = image.toLowerCase().startsWith('https:') ? 'HTTPS' : 'HTTP';
  }
  const tp = body.TransferProtocolType;
  if (tp !== undefined && tp !== null && tp !== 'HTTP' && tp !== 'HTTPS') problems.push(notInList('TransferProtocolType', '#/TransferProtocolType', tp, 'ActionParameter'));
  else if (typeof tp === 'string' && protocol && tp !== protocol) {
    problems.push({ id: 'ActionParameterValueConflict', message: `The TransferProtocolType ${tp} does not match the scheme of the Image URI.`, args: ['TransferProtocolType', tp], related: ['#/TransferProtocolType', '#/Image'] });
  }
  const bool = (k: string, def: boolean): boolean => {
    const v = body[k];
    if (v === undefined || v === null) return def;
    if (typeof v === 'boolean') return v;
    problems.push({ id: 'ActionParameterValueTypeError', message: `The value ${q(v)} for the parameter ${k} in the action VirtualMedia.InsertMedia is of a different type than the parameter can accept.`, args: [q(v), k, 'VirtualMedia.InsertMedia'], related: [`#/${k}`] });
    return def;
  };
  const inserted = bool('Inserted', true);
  const writeProtected = bool('WriteProtected', true);
  const verifyCertificate = bool('VerifyCertificate', false);
  if (!writeProtected) problems.push({ id: 'ActionParameterNotSupported', message: 'The parameter WriteProtected=false for the action VirtualMedia.InsertMedia is not supported: the virtual CD is read-only.', args: ['WriteProtected', 'VirtualMedia.InsertMedia'], related: ['#/WriteProtected'] });
  if (body.TransferMethod !== undefined && body.TransferMethod !== null && body.TransferMethod !== 'Upload' && body.TransferMethod !== 'Stream') {
    problems.push(notInList('TransferMethod', '#/TransferMethod', body.TransferMethod, 'ActionParameter'));
  }
  if (problems.length || !protocol) return { ok: false, answer: rfError(400, ...problems) };
  return { ok: true, media: { image: image as string, inserted, writeProtected, protocol, verifyCertificate } };
}

/** POST to the Sessions collection (DSP0266 "Session login authentication"). */
export function parseLogin(body: Json): { ok: true; user: string; password: string } | { ok: false; answer: RfAnswer } {
  const missing = ['UserName', 'Password'].filter((k) => typeof body[k] !== 'string');
  if (missing.length) {
    return { ok: false, answer: rfError(400, ...missing.map((k) => ({ id: 'PropertyMissing', message: `The property ${k} is a required property and must be included in the request.`, args: [k], related: [`#/${k}`] }))) };
  }
  return { ok: true, user: body.UserName as string, password: body.Password as string };
}

/**
 * If-Match (RFC 7232 3.1): `*` or any listed tag matches. The comparison is
 * weak (a W/ prefix is ignored), which is what DSP0266 asks of PATCH.
 */
export function ifMatchOk(header: string | undefined, current: string): boolean {
  if (header === undefined || header.trim() === '') return true;
  const strip = (t: string) => t.trim().replace(/^W\//, '');
  const tags = header.split(',').map(strip);
  return tags.includes('*') || tags.includes(strip(current));
}

export const preconditionFailed = (path: string): RfAnswer =>
  rfError(412, { id: 'PreconditionFailed', message: `The ETag supplied did not match the ETag required to change ${path}.` });
