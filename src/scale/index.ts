export { RedisLedger, ledgerKey, redisUsed } from './redis-ledger.js';
export { submitBatch, batchInfo, batchStatus, batchResults, iterateResults, waitForBatch, connectRedis, redisError, batchKey, resultsKey, failedKey, DEFAULT_QUEUE, type BatchInfo, type BatchJob, type BatchStatus, type ImageResult, type JobItem, type SubmitOptions } from './jobs.js';
export { startWorker, type WorkerOptions, type RunningWorker } from './worker.js';
