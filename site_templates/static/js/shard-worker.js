// Index shards opened off the page's main thread: fetch, the name pin, AEAD, inflate, JSON and
// every check of FORMAT.md 10 on the shard and its rows, so that at 50,000 patients the page
// only receives checked rows and keeps painting. index_loader.js does the same on the main
// thread when a browser cannot start this worker.
import * as wrappers from './libsodium-wrappers.mjs';
import * as C from './crypto.js';
import { getBytes } from './net.js';
import { checkObjectName, checkShard, checkShardRow } from './rules.js';

const ready = C.init(wrappers);

/** Fetch and open shard `i` of database `db`; the caller checked nothing yet. */
async function open({ url, obj, ik, clinic, doorId, db, i, n }) {
  const body = checkObjectName(obj, await getBytes(url));
  const key = C.shardKey(ik, db, i);
  try {
    const shard = checkShard(await C.openBody(key, body, C.shardAd(clinic, doorId, db, i)), db, i, n);
    for (const row of shard.rows) checkShardRow(row);
    return shard;
  } finally {
    key.fill(0);
  }
}

self.onmessage = async (event) => {
  const job = event.data;
  try {
    await ready;
    self.postMessage({ id: job.id, shard: await open(job) });
  } catch (err) {
    self.postMessage({ id: job.id, error: { name: err.name, message: String(err.message) } });
  } finally {
    job.ik.fill(0); // this copy of the index key; the page keeps its own until logout
  }
};
