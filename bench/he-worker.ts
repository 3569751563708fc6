/**
 * A worker thread of the HE cloud (bench/he-vs-owsd.ts): SEAL's WebAssembly runs on one thread, so the cloud
 * evaluates on one worker per core. Receives the head, the client's Galois keys and a share of the ciphertexts;
 * answers with the encrypted scores and its own evaluation time.
 */
import { parentPort } from 'node:worker_threads';
import { createCkksSetting, CkksHeadServer, type CkksParamName, type LinearHead } from '../src/he/index.js';

export interface HeWorkerJob {
  params: CkksParamName;
  head: LinearHead;
  galoisKeys: Uint8Array;
  ciphertexts: Uint8Array[];
}

parentPort!.once('message', async (job: HeWorkerJob) => {
  const setting = await createCkksSetting(job.head.inputDim, job.head.classes, job.params);
  const server = new CkksHeadServer(setting, job.head);
  const gk = server.loadGaloisKeys(job.galoisKeys);
  const t0 = performance.now();
  const answers = job.ciphertexts.map((ct) => server.evaluate(ct, gk));
  const seconds = (performance.now() - t0) / 1000;
  gk.delete();
  server.release();
  parentPort!.postMessage({ answers, seconds });
});
