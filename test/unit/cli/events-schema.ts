/** docs/events-v1.schema.json as a validator (Ajv, JSON Schema 2019-09), for the unit and integration tests of CI mode. */
import { readFileSync } from 'node:fs';
import Ajv2019 from 'ajv/dist/2019.js';

export const EVENTS_SCHEMA = JSON.parse(readFileSync(new URL('../../../docs/events-v1.schema.json', import.meta.url), 'utf8'));

const validate = new Ajv2019.default({ allErrors: true, strict: true }).compile(EVENTS_SCHEMA);

/** The schema's complaints about one event, as text; empty when it conforms. */
export function schemaErrors(event: unknown): string[] {
  return validate(event) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}
