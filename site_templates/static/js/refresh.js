// The Refresh button: new data without logging out. A reload would drop the keys (they live
// in this page's memory only, session.js), so instead the page fetches site.json, its door
// and what the door leads to again, with the door key it already holds: no new Argon2id,
// every freshness check of FORMAT.md 5.4 made again.
import { $, errorKey, message, setState, show } from './ui.js';

let running = false;

/**
 * Show the button and run `again()` on each press; `again` resolves once the new data is on
 * screen. A door that no longer opens (a password changed, a share revoked) says so.
 */
export function wireRefresh(again, errorBox) {
  const button = $('refresh');
  show(button, true);
  button.addEventListener('click', async () => {
    if (running) return;
    running = true;
    button.disabled = true;
    message(errorBox, null);
    message($('app-info'), null);
    setState('busy');
    try {
      await again();
      message($('app-info'), 'refresh.done');
      setState('ready');
    } catch (err) {
      setState('error');
      message(errorBox, err?.name === 'AuthFailed' ? 'err.refresh_auth' : errorKey(err, 'err.damaged'));
      console.warn('chartseal:', err.name, err.message);
    } finally {
      running = false;
      button.disabled = false;
    }
  });
}
