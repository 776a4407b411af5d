// libsodium for the page: one instance, made ready once, handed to the crypto module.
import * as wrappers from './libsodium-wrappers.mjs';
import * as C from './crypto.js';

let ready = null;

/** The crypto module, initialised. Start it early: compiling libsodium takes a moment. */
export function loadCrypto() {
  if (!ready) ready = C.init(wrappers).then(() => C);
  return ready;
}
