// The clinic's name on the login pages as the clinic ID is typed, from its public site.json
// (FORMAT.md 4): showClinicName sets it as text, never as HTML (site.json is not yet
// authenticated here).
import { loadSite, showClinicName, validClinic } from './clinic.js';

/** Show the name of the clinic whose ID is in `input`, now and whenever it changes. */
export function watchClinicName(input) {
  const update = () => {
    const clinic = validClinic(input.value);
    if (!clinic) { showClinicName(null); return; }
    loadSite(clinic).then(showClinicName).catch(() => showClinicName(null));
  };
  input.addEventListener('change', update);
  update();
}
