// The keystore backup vector (FORMAT.md 11) checked with libsodium.js, independently of the
// Python writer: the key id, the sealing key and the AEAD over the header as associated data.
// No browser reads backups; this proves the spec is enough to open one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

import * as C from '../../site_templates/static/js/crypto.js';

const vec = JSON.parse(readFileSync(new URL('../vectors/backup.json', import.meta.url), 'utf8'));
await C.init();

function split(file) {
  const nl1 = file.indexOf(0x0a);
  const nl2 = file.indexOf(0x0a, nl1 + 1);
  return { head: file.subarray(0, nl2 + 1), header: JSON.parse(new TextDecoder().decode(file.subarray(nl1 + 1, nl2))),
    ct: file.subarray(nl2 + 1) };
}

test('backup: key id and AEAD open with the spec alone', () => {
  const s = C.sodium();
  const rk = s.from_hex(vec.recovery_key_hex);
  const { head, header, ct } = split(C.b64d(vec.file_b64));
  assert.equal(new TextDecoder().decode(head.subarray(0, 19)), 'chartseal-backup/1\n');
  assert.equal(C.hex(C.hash(16, C.label('chartseal/v1/backup-key-id'), rk)), vec.key_id);
  assert.equal(header.key_id, vec.key_id);
  const key = C.hash(32, C.label('chartseal/v1/backup-key'), rk);
  const ad = C.concat(C.label('chartseal/v1/backup', header.clinic), head);
  const plain = s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ct, ad, C.b64d(header.n, 24), key);
  const tar = new TextDecoder('latin1').decode(gunzipSync(plain));
  for (const [name, text] of Object.entries(vec.members)) {
    assert.ok(tar.includes(name) && tar.includes(text), name);
  }
  // Another clinic in the associated data: refused.
  const other = C.concat(C.label('chartseal/v1/backup', '1111111111'), head);
  assert.throws(() => s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ct, other, C.b64d(header.n, 24), key));
});
