export * from './keyfile.js';
export { UsageLedger, ledgerPath, besideKeyLedgerPath, firstUseMarkerPath, stateDir, type Usage, type KeyLedger } from './ledger.js';
export { writeFileAtomic, checkPrivateFolder } from './files.js';
export { deriveNormals, keystreamWords, streamKey } from './keystream.js';
