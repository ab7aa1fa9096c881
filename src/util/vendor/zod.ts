/**
 * zod for kseed's own code. `npm run build` replaces this module's compiled
 * file with one esbuild bundle of zod (scripts/bundle-vendor.mjs): zod 4 is
 * 71 ES modules, and resolving and linking them one by one was about a
 * third of what `kseed validate` added to Node's own start-up (issue 16).
 * Import zod only through here, so that one copy of its classes exists.
 */
export { z } from 'zod';
