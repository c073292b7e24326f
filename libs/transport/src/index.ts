export * from './transport';
export * from './mailbox';
export * from './in-memory';
export * from './ws';
