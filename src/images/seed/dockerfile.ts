/**
 * Dockerfiles from Handlebars templates, the Kolla way: one template per
 * service (templates/images/<name>.Dockerfile.hbs) over shared partials
 * (templates/images/partials/: head, install, tail). Rendering is pure; the
 * input hash decides whether an image must be rebuilt.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createEnv } from '../../render/env.js';
import { REPO_ROOT } from '../../render/stack.js';
import type { SeedService } from './services.js';

export const IMAGE_TEMPLATES_DIR = path.join(REPO_ROOT, 'templates', 'images');

/** Bumped when the build procedure changes in code (not in a template). */
export const RECIPE = 'kseed-seed-image/1';

export interface DockerfileView {
  service: string;
  image: string;
  base: string;
  packages: string[];
  debconf: string[];
  offline: boolean;
}

export interface TemplateSet {
  /** Service template text. */
  main: string;
  /** Partial name -> text. */
  partials: Record<string, string>;
}

export function loadTemplates(svc: Pick<SeedService, 'template'>, dir = IMAGE_TEMPLATES_DIR): TemplateSet {
  const pdir = path.join(dir, 'partials');
  const partials: Record<string, string> = {};
  for (const f of readdirSync(pdir).sort()) {
    if (f.endsWith('.hbs')) partials[f.slice(0, -4)] = readFileSync(path.join(pdir, f), 'utf8');
  }
  return { main: readFileSync(path.join(dir, `${svc.template}.Dockerfile.hbs`), 'utf8'), partials };
}

export function renderDockerfile(t: TemplateSet, view: DockerfileView): string {
  const hb = createEnv();
  for (const [name, text] of Object.entries(t.partials)) hb.registerPartial(name, text);
  // strict: a typo in a template is an error, not an empty string in a Dockerfile.
  const out = hb.compile(t.main, { strict: true, noEscape: true })(view);
  for (const line of view.debconf) {
    // The line is placed inside single quotes in a shell command.
    if (line.includes("'")) throw new Error(`debconf line must not contain a single quote: ${line}`);
  }
  return out.replace(/\n{3,}/g, '\n\n');
}

/**
 * What an image is made of: the rendered Dockerfile (template text, partials,
 * package list, debconf answers, base reference), the base image's ID (a
 * re-imported base changes it), and for offline builds the .debs present.
 */
export function inputHash(parts: { dockerfile: string; baseId: string; debs?: string[] }): string {
  const h = createHash('sha256');
  h.update(`${RECIPE}\n`);
  h.update(`base ${parts.baseId}\n`);
  h.update(`debs ${(parts.debs ?? []).slice().sort().join(' ')}\n`);
  h.update(parts.dockerfile);
  return h.digest('hex');
}

export const INPUTS_LABEL = 'org.kseed.inputs';
