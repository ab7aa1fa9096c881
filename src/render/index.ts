export { createEnv, sortKeys } from './env.js';
export {
  ARTIFACTS_MOUNT,
  buildModel,
  IMAGE_REPOS,
  ironicApiUrl,
  projectName,
  stackPlacement,
  type BootArtifacts,
  type StackModel,
  type StackPlacement,
  type StackService,
} from './model.js';
export { ensureSecrets, IRONIC_USER, type StackSecrets } from './secrets.js';
export { ironicBootPlan, type IronicBootPlan } from './boot-plan.js';
export {
  DEFAULT_INITRD,
  DEFAULT_KERNEL,
  readStackManifest,
  renderStack,
  REPO_ROOT,
  STACK_MANIFEST,
  VOLUME_CONTENT,
  type RenderOptions,
  type RenderResult,
  type StackManifest,
} from './stack.js';
