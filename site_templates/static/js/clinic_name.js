// The clinic's name on the login pages, from its public site.json (FORMAT.md 4). It is set
// as text, never as HTML, and cut to one short line: site.json is not yet authenticated here.
import { loadSite, validClinic } from './clinic.js';

export function showClinicName(site) {
  const el = document.getElementById('clinic-name');
  if (!el) return;
  const raw = site && typeof site.clinic_name === 'string' ? site.clinic_name : '';
  const name = raw.replace(/\s+/g, ' ').trim().slice(0, 80);
  el.textContent = name;
  el.hidden = !name;
}

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
