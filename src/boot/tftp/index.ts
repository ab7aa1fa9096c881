export { TftpServer, type TftpServerOptions, type TftpEvent } from './server.js';
export { type GeneratedFiles, type GeneratedContent, normalizeRequestPath, PathRefused } from './files.js';
export { decode, encodeRequest, encodeAck, encodeError, encodeOack, encodeData, ErrorCode, Opcode, type Packet } from './packet.js';
export { negotiate, type Negotiated, type NegotiationLimits } from './options.js';
export { Transfer, type TransferOptions, type TransferOutcome } from './transfer.js';
