// Index shards opened off the page's main thread: fetch, the name pin, AEAD, inflate, JSON and
// the checks of shard_open.js, so that at 50,000 patients the page only receives checked rows,
// packed, and keeps painting. index_loader.js does the same on the main thread when a browser cannot
// start this worker.
import * as wrappers from './libsodium-wrappers.mjs';
import * as C from './crypto.js';
import { getBytes } from './net.js';
import { openShardBody } from './shard_open.js';

const ready = C.init(wrappers);

self.onmessage = async (event) => {
  const job = event.data;
  try {
    await ready;
    const packed = await openShardBody(C, await getBytes(job.url), job);
    // Packed (packed_rows.js): one string is copied in one piece and the offsets are moved,
    // not copied, so the page parses nothing and makes no object per row.
    self.postMessage({ id: job.id, packed }, [packed.ends.buffer]);
  } catch (err) {
    self.postMessage({ id: job.id, error: { name: err.name, message: String(err.message) } });
  } finally {
    job.ik.fill(0); // this copy of the index key; the page keeps its own until logout
  }
};
