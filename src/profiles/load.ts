/**
 * Loads hardware profiles with the same error quality as the site file:
 * file:line:col, field path, every problem at once (InputError, exit 2).
 */
import path from 'node:path';
import { InputError, type Problem } from '../errors.js';
import { problemAt, readYaml, zodProblems } from '../site/yaml.js';
import { profileDirs, profileFiles } from '../site/profile-dirs.js';
import { Profile, type HardwareProfile } from './schema.js';

export interface ProfileCheck {
  profiles: HardwareProfile[];
  problems: Problem[];
}

/** One profile file; problems instead of throwing. */
export async function checkProfileFile(file: string): Promise<{ profile?: HardwareProfile; problems: Problem[] }> {
  const { y, problems } = await readYaml(file, 'hardware profile');
  if (problems.length) return { problems };
  if (!y.data || typeof y.data !== 'object' || Array.isArray(y.data)) {
    return { problems: [problemAt(y, [], 'a hardware profile must be a mapping (name, description, vendor, match, bmc, boot, ironic)')] };
  }
  const r = Profile.safeParse(y.data);
  const out = r.success ? [] : zodProblems(y, Profile, r.error.issues);
  const base = path.basename(y.file).replace(/\.ya?ml$/, '');
  const name = (y.data as { name?: unknown }).name;
  // the file name is how site files refer to a profile before it is parsed
  if (typeof name === 'string' && name !== base) out.push(problemAt(y, ['name'], `name "${name}" must match the file name "${base}"`));
  if (out.length || !r.success) return { problems: out };
  return { profile: { ...r.data, quirks: r.data.quirks ?? [], source: y.file }, problems: [] };
}

/** All profiles from the given directories (later ones override by name), problems collected. */
export async function checkProfiles(dirs: string[] = profileDirs()): Promise<ProfileCheck> {
  const files = profileFiles(dirs);
  const profiles: HardwareProfile[] = [];
  const problems: Problem[] = [];
  for (const file of files.values()) {
    const r = await checkProfileFile(file);
    problems.push(...r.problems);
    if (r.profile) profiles.push(r.profile);
  }
  return { profiles, problems };
}

export async function loadProfiles(dirs: string[] = profileDirs()): Promise<HardwareProfile[]> {
  const r = await checkProfiles(dirs);
  if (r.problems.length) {
    const n = r.problems.length;
    throw new InputError(`hardware profiles have ${n} problem${n === 1 ? '' : 's'}`, r.problems, { code: 'invalid-profile' });
  }
  return r.profiles;
}

/** Shipped profiles plus `hardware-profiles/` beside the site file. */
export function loadSiteProfiles(siteDir: string): Promise<HardwareProfile[]> {
  return loadProfiles(profileDirs(siteDir));
}
