// Argon2id off the main thread, so the page keeps painting its progress indicator.
// The worker only ever sees the password bytes and returns the door key and id.
import * as wrappers from './libsodium-wrappers.mjs';
import * as C from './crypto.js';

const ready = C.init(wrappers);

self.onmessage = async (event) => {
  const { id, pw, salt, ops, mem } = event.data;
  try {
    await ready;
    const t0 = performance.now();
    const { doorKey, doorId } = C.deriveDoor(pw, salt, { ops, mem });
    const ms = performance.now() - t0;
    self.postMessage({ id, doorKey, doorId, ms });
    doorKey.fill(0);
  } catch (err) {
    self.postMessage({ id, error: { name: err.name, message: String(err.message) } });
  } finally {
    pw.fill(0);
  }
};
self.postMessage({ hello: true });
