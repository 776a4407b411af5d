// What the doctor's and the patient's login forms share: the start of a submit (old
// messages cleared, libsodium loaded, the required fields checked) and how a failure shows.
import { loadCrypto } from './sodium.js';
import { $, errorKey, message, setState } from './ui.js';

// Returns libsodium, or null when this browser cannot run it (the message is shown).
export async function beginLogin(event) {
  event.preventDefault();
  performance.mark('chartseal:submit');
  message($('login-error'), null);
  message($('login-info'), null);
  const C = await loadCrypto().catch(() => null);
  if (!C) message($('login-error'), 'err.unsupported');
  return C;
}

// True when the clinic ID is valid and every required value is filled in.
export function fieldsReady(clinic, values) {
  if (!$('clinic').value.trim() || values.some((v) => !v)) { message($('login-error'), 'err.required'); return false; }
  if (!clinic) { message($('login-error'), 'err.clinic'); return false; }
  return true;
}

export function loginFailed(err, authKey) {
  setState('error');
  message($('login-error'), err.name === 'NoClinic' ? 'err.clinic' : errorKey(err, authKey));
  console.warn('chartseal:', err.name, err.message);
}
