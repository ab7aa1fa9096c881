export { createEnv, sortKeys } from './env.js';
export { buildModel, IMAGE_REPOS, projectName, type StackModel, type StackService } from './model.js';
export { ensureSecrets, IRONIC_USER, type StackSecrets } from './secrets.js';
export {
  readStackManifest,
  renderStack,
  REPO_ROOT,
  STACK_MANIFEST,
  VOLUME_CONTENT,
  type RenderOptions,
  type RenderResult,
  type StackManifest,
} from './stack.js';
