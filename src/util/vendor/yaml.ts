/**
 * yaml for kseed's own code; like ./zod.ts, `npm run build` replaces the
 * compiled file with one esbuild bundle (yaml's CommonJS build is about 60
 * files that Node's loader reads and lexes one by one on every start).
 */
export { default, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, stringify, visit } from 'yaml';
export type { Document, Node } from 'yaml';
