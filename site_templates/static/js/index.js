// The site's front page: carry the clinic ID of a shared link (?c=) to both portals.
import './frame_guard.js'; // first: nothing else runs in a frame
import { wireSwitch } from './i18n.js';

const c = new URLSearchParams(location.search).get('c');
if (c && /^[0-9]{10}$/.test(c)) {
  for (const id of ['to-doctor', 'to-patient']) {
    const a = document.getElementById(id);
    a.href = `${a.getAttribute('href')}?c=${c}`;
  }
}
wireSwitch(document.getElementById('lang'));
document.body.dataset.state = 'ready';
