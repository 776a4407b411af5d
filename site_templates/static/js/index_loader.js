// The shards of an account index (FORMAT.md 6.2, 10): fetched a few at a time, each checked
// before a row of it is used, and kept in memory by object name so that Refresh fetches only
// the shards whose name changed. The opening itself runs in a worker when the browser can.
//
// Each shard's bytes must hash to the name the fresh root gave (an older shard of the same
// position opens with the same key, so the name is what pins it to this root), open with
// the key and associated data of its database and position, and say that database and
// position with the row count the root announced.
import { getBytes } from './net.js';
import { clinicBase } from './clinic.js';
import { checkPacked, openShardBody } from './shard_open.js';
import { openInWorker } from './shard_pool.js';
import { F, field, unpack } from './packed_rows.js';

export { warmShards } from './shard_pool.js';

const POOL = 6; // parallel fetches: enough to hide a round trip, few enough not to starve the page

/** Opened shards (packed, packed_rows.js) by object name, for one account (door) and key; memory only, like the keys. */
export class ShardCache {
  constructor() { this.byObj = new Map(); this.rids = null; }

  get(obj) { return this.byObj.get(obj); }

  put(obj, shard) {
    this.byObj.set(obj, shard);
    this.rids = null; // built again when a row is looked up: the list's load does not wait for it
  }

  /** A row by rid, in any shard loaded so far (any database), as the shard held it. */
  row(rid) {
    if (!this.rids) {
      this.rids = new Map();
      for (const p of this.byObj.values()) for (let r = 0; r < p.n; r += 1) this.rids.set(field(p, r, F.rid), [p, r]);
    }
    const at = this.rids.get(rid);
    return at ? unpack(at[0], at[1]) : null;
  }

  /** Drop every shard the root `index` no longer names (after a Refresh). */
  keepOnly(index) {
    const named = new Set(index.databases.flatMap((d) => d.shards.map((s) => s.obj)));
    for (const obj of [...this.byObj.keys()]) if (!named.has(obj)) this.byObj.delete(obj);
    this.rids = null;
  }
}

/** Fetch, check and open shard `i` of `db` on this thread (a browser without module workers). */
async function openHere(ctx, db, i) {
  const { obj, n } = db.shards[i];
  const body = await getBytes(`${clinicBase(ctx.clinic)}${obj}`);
  return openShardBody(ctx.C, body, { obj, ik: ctx.ik, clinic: ctx.clinic, doorId: ctx.doorId, db: db.id, i, n });
}

function openElsewhere(ctx, db, i) {
  const { obj, n } = db.shards[i];
  const url = new URL(`${clinicBase(ctx.clinic)}${obj}`, location.href).href; // a worker's base is its own URL
  return openInWorker({ url, obj, ik: ctx.ik, clinic: ctx.clinic, doorId: ctx.doorId, db: db.id, i, n });
}

/**
 * Shard `i` of database `db` (an entry of the checked root), opened and checked: from
 * memory when the root names an object already opened (checked against this position
 * again), else fetched. `ctx` is {C, clinic, doorId, ik}.
 */
export async function openShard(ctx, cache, db, i) {
  const { obj, n } = db.shards[i];
  const kept = cache.get(obj);
  if (kept) return { shard: checkPacked(kept, db.id, i, n), fetched: false };
  let shard;
  try {
    shard = await openElsewhere(ctx, db, i);
  } catch (err) {
    if (err.name !== 'WorkerFailed') throw err;
    shard = await openHere(ctx, db, i);
  }
  cache.put(obj, shard);
  return { shard, fetched: true };
}

/**
 * Every shard of `db`, at most POOL fetches at a time; `onShard(shard, i)` runs as each one
 * is in (cached ones first, at once). Resolves with the number fetched once all are in;
 * rejects with the first failure and starts nothing more. `live()` false stops it quietly
 * (the viewer switched database or pressed Refresh meanwhile): it then resolves with -1.
 */
export async function loadShards(ctx, cache, db, onShard, live = () => true) {
  const todo = [];
  db.shards.forEach(({ obj, n }, i) => {
    const kept = cache.get(obj);
    if (kept) onShard(checkPacked(kept, db.id, i, n), i);
    else todo.push(i);
  });
  let fetched = 0;
  let failed = null;
  let next = 0;
  const worker = async () => {
    while (next < todo.length && !failed && live()) {
      const i = todo[next];
      next += 1;
      try {
        const { shard } = await openShard(ctx, cache, db, i);
        fetched += 1;
        if (!failed && live()) onShard(shard, i);
      } catch (err) {
        failed = failed || err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(POOL, todo.length) }, worker));
  if (failed) throw failed;
  return live() ? fetched : -1;
}
