export { HttpBootServer, type HttpBootServerOptions, type HttpEvent } from './server.js';
export { ArtifactStore, parseRange, type RangeResult } from './artifacts.js';
export { MemoryBootBackend, newAgentToken, type MemoryNode, type NodeRecord } from './memory-backend.js';
export * from './types.js';
