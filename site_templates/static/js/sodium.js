// libsodium for the page: one instance, made ready once, handed to the crypto module.
// Imported dynamically so the login form works while the 400 kB build still compiles.
import * as C from './crypto.js';

let ready = null;

/** The crypto module, initialised. Start it early: compiling libsodium takes a moment. */
export function loadCrypto() {
  if (!ready) ready = import('./libsodium-wrappers.mjs').then((sodium) => C.init(sodium)).then(() => C);
  return ready;
}
