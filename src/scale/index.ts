export { RedisLedger, ledgerKey, redisUsed } from './redis-ledger.js';
export { submitBatch, batchInfo, batchStatus, batchResults, iterateResults, waitForBatch, connectRedis, redisError, batchKey, resultsKey, failedKey, imageErrorsKey, DEFAULT_QUEUE, type BatchInfo, type BatchJob, type BatchStatus, type BatchResult, type JobItem, type SubmitOptions } from './jobs.js';
export { startWorker, readConfined, type WorkerOptions, type RunningWorker } from './worker.js';
