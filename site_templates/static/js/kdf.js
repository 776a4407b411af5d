// Key derivation in Web Workers, with a main-thread fallback for browsers without module
// workers. Workers start when the page loads so libsodium is compiled before the user
// presses the button. Two lanes let the patient page try the patient door and the general
// door at the same time on a multi-core device.
import { loadCrypto } from './sodium.js';

const lanes = new Map(); // lane -> { worker, pending: Map(id -> {resolve, reject}) }
let seq = 0;

function failAll(lane, message) {
  const entry = lanes.get(lane);
  if (!entry) return;
  lanes.delete(lane);
  for (const { reject } of entry.pending.values()) reject(Object.assign(new Error(message), { name: 'Cancelled' }));
}

function spawn(lane) {
  if (lanes.has(lane)) return lanes.get(lane);
  let worker;
  try {
    worker = new Worker(new URL('./kdf-worker.js', import.meta.url), { type: 'module' });
  } catch {
    return null;
  }
  const entry = { worker, pending: new Map() };
  worker.onmessage = (event) => {
    const { id, error } = event.data;
    const job = entry.pending.get(id);
    if (!job) return;
    entry.pending.delete(id);
    if (error) job.reject(Object.assign(new Error(error.message), { name: error.name }));
    else job.resolve(event.data);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    failAll(lane, 'the key derivation worker stopped');
  };
  lanes.set(lane, entry);
  return entry;
}

/** Start the first worker (idempotent); returns false when the browser cannot run one. */
export function warm() { return spawn(0) !== null; }

/** True when two derivations can run side by side without slowing the first (4+ cores). */
export function canRunTwo() { return (navigator.hardwareConcurrency || 1) >= 4 && warm(); }

/** Stop whatever runs on `lane` (Argon2id cannot be interrupted any other way). */
export function cancel(lane) {
  const entry = lanes.get(lane);
  if (!entry) return;
  entry.worker.terminate();
  failAll(lane, 'cancelled');
}

/**
 * Derive `{doorKey, doorId, ms}` from password bytes and a salt (FORMAT.md 5.1).
 * `pw` is zeroed once handed over.
 */
export async function deriveDoor(pw, salt, params, lane = 0) {
  const C = await loadCrypto();
  C.checkKdf({ alg: 'argon2id13', ...params });
  const entry = spawn(lane);
  if (!entry) {
    // Let the progress indicator paint before the synchronous KDF blocks the page.
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    const t0 = performance.now();
    const out = C.deriveDoor(pw, salt, params);
    pw.fill(0);
    return { ...out, ms: performance.now() - t0 };
  }
  seq += 1;
  const id = seq;
  const result = new Promise((resolve, reject) => entry.pending.set(id, { resolve, reject }));
  entry.worker.postMessage({ id, pw, salt, ops: params.ops, mem: params.mem });
  pw.fill(0);
  return result;
}
