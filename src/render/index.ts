export { createEnv, sortKeys } from './env.js';
export { buildModel, IMAGE_REPOS, projectName, type StackModel, type StackService } from './model.js';
export { ensureSecrets, IRONIC_USER, type StackSecrets } from './secrets.js';
export { renderStack, REPO_ROOT, type RenderOptions, type RenderResult } from './stack.js';
