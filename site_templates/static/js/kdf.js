// Key derivation in a Web Worker, with a main-thread fallback for browsers without
// module workers. The worker is started when the page loads so libsodium is compiled
// before the user presses the button.
import { loadCrypto } from './sodium.js';

let worker = null;
let seq = 0;
const pending = new Map();

function failAll(message) {
  for (const { reject } of pending.values()) reject(new Error(message));
  pending.clear();
  worker = null;
}

/** Start the worker (idempotent); returns false when the browser cannot run one. */
export function warm() {
  if (worker) return true;
  try {
    worker = new Worker(new URL('./kdf-worker.js', import.meta.url), { type: 'module' });
  } catch {
    worker = null;
    return false;
  }
  worker.onmessage = (event) => {
    const { id, error } = event.data;
    const job = pending.get(id);
    if (!job) return;
    pending.delete(id);
    if (error) {
      const err = new Error(error.message);
      err.name = error.name;
      job.reject(err);
    } else {
      job.resolve(event.data);
    }
  };
  worker.onerror = (event) => {
    event.preventDefault();
    failAll('the key derivation worker stopped');
  };
  return true;
}

/**
 * Derive `{doorKey, doorId, ms}` from password bytes and a salt (FORMAT.md 5.1).
 * `pw` is zeroed once handed over.
 */
export async function deriveDoor(pw, salt, params) {
  const C = await loadCrypto();
  C.checkKdf({ alg: 'argon2id13', ...params });
  if (!warm()) {
    // Let the progress indicator paint before the synchronous KDF blocks the page.
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    const t0 = performance.now();
    const out = C.deriveDoor(pw, salt, params);
    pw.fill(0);
    return { ...out, ms: performance.now() - t0 };
  }
  seq += 1;
  const id = seq;
  const result = new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  worker.postMessage({ id, pw, salt, ops: params.ops, mem: params.mem });
  pw.fill(0);
  return result;
}
