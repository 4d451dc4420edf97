/**
 * `governor witness`: a C2SP tlog-witness that cosigns the checkpoints of the
 * logs it trusts only when they extend what it cosigned before.
 */
export * from './witness.js';
export * from './file-witness-state.js';
export * from './witness-key.js';
export * from './witness-server.js';
