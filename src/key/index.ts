export * from './keyfile.js';
export { UsageLedger, ledgerPath, type Usage, type KeyLedger } from './ledger.js';
export { deriveNormals, keystreamWords, streamKey } from './keystream.js';
