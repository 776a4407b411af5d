// The worker (shard-worker.js) that opens index shards off the page's main thread. Started
// with the page, so its libsodium is compiled by the time the root is open. At 50,000
// patients opening the shards, not fetching them, is what the list waits for; yet a second
// worker made the whole list slower on the 2-core machine it was measured on (docs/PORTAL.md),
// so there is one, behind a pool that could take more.
const COUNT = 1;
let workers; // undefined: not started; []: cannot run here (the page opens shards itself)
const pending = new Map(); // job id -> {resolve, reject, worker}
let jobs = 0;

export const workerFailed = () => Object.assign(new Error('shard worker unavailable'), { name: 'WorkerFailed' });

function failAll() {
  for (const w of workers || []) w.terminate();
  workers = [];
  for (const { reject } of pending.values()) reject(workerFailed());
  pending.clear();
}

function onMessage(event) {
  const { id, packed, error } = event.data;
  const job = pending.get(id);
  if (!job) return;
  pending.delete(id);
  if (error) job.reject(Object.assign(new Error(error.message), { name: error.name }));
  else job.resolve(packed); // checked by the worker, packed (packed_rows.js)
}

/** Start the worker now (idempotent). */
export function warmShards() {
  if (workers !== undefined) return;
  workers = [];
  try {
    for (let k = 0; k < COUNT; k += 1) {
      const w = new Worker(new URL('./shard-worker.js', import.meta.url), { type: 'module' });
      w.onmessage = onMessage;
      w.onerror = failAll; // a script that does not load: the main thread takes over
      workers.push(w);
    }
  } catch {
    failAll(); // no module workers in this browser
  }
}

/**
 * Open a shard in the least busy worker: `job` is {url (absolute), obj, ik, clinic, doorId,
 * db, i, n}. Rejects with workerFailed()
 * when no worker can run, so the caller opens the shard itself.
 */
export function openInWorker(job) {
  warmShards();
  if (!workers.length) return Promise.reject(workerFailed());
  const load = (w) => [...pending.values()].filter((p) => p.worker === w).length;
  const worker = workers.reduce((best, w) => (load(w) < load(best) ? w : best));
  jobs += 1;
  const id = jobs;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, worker });
    worker.postMessage({ ...job, id }); // a copy of the key goes: the worker zeroes it after use
  });
}
