export { ComposeDriver, type ComposeFlavor, type ComposeProject, type DriverOptions, type ServiceStatus, type WaitOptions } from './driver.js';
export { BUILD_HINT, ensureImages, projectOf, staleNetnsServices, upStack, type StackRef } from './stack.js';
export { checkSeed, checkSeedAddress, interfacesIn } from './preflight.js';
