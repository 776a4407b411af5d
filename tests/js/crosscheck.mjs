// Helper for tests/test_vectors.py (not a test file itself): reads a JSON request on stdin,
// computes the same constructions with crypto.js and prints the results as JSON, so the
// Python test can compare both languages on random inputs.
import * as C from '../../site_templates/static/js/crypto.js';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const req = JSON.parse(Buffer.concat(chunks).toString('utf8'));
await C.init();
const clinic = '4821930571';
const out = {};
if (req.texts) {
  out.labels = req.texts.map((t, i) => C.hex(C.label('chartseal/v1/door', t, i, clinic)));
  out.salts = req.texts.map((t) => C.hex(C.accountSalt(clinic, t)));
  out.entry_ids = req.texts.map((t, i) => C.entryId(C.b64d(req.keys[i], 32), t));
  out.search = req.texts.map(C.normalizeSearch);
  out.user = req.texts.map(C.normalizeUser);
  out.card = req.texts.map(C.normalizeCard);
  out.derive = req.passwords.map((pws) => {
    const pw = C.passwordBytes(...pws);
    const { doorKey, doorId } = C.deriveDoor(pw, C.generalSalt(clinic), req.kdf);
    return { pw: C.hex(pw), door_key: C.b64e(doorKey), door_id: doorId };
  });
}
if (req.normalize) {
  out.normalize = req.normalize.map((t) => [C.normalizeSearch(t), C.normalizeCard(t), C.normalizeUser(t)]);
}
if (req.note) {
  const n = req.note;
  out.note = C.makeNote({
    clinic: n.clinic, door: n.door, ts: n.ts, payload: n.payload,
    noteSk: C.b64d(n.note_sk, 64), notesPk: C.b64d(n.notes_pk, 32),
  });
}
process.stdout.write(JSON.stringify(out));
