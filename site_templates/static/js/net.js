// Fetching site objects. Three outcomes the UI tells apart: the object is not there
// (a door that does not exist: wrong credentials), the network failed, or the bytes came.

export class NetworkError extends Error {
  constructor(message) { super(message); this.name = 'NetworkError'; }
}

export class NotFound extends Error {
  constructor(message) { super(message); this.name = 'NotFound'; }
}

async function get(url) {
  let res;
  try {
    res = await fetch(url, { credentials: 'same-origin', redirect: 'error' });
  } catch (err) {
    throw new NetworkError(`could not fetch ${url}: ${err.message}`);
  }
  // S3 answers 403 for a missing key when listing is not allowed: same as not found.
  if (res.status === 404 || res.status === 403) throw new NotFound(url);
  if (!res.ok) throw new NetworkError(`${url}: HTTP ${res.status}`);
  return res;
}

export async function getText(url) {
  const res = await get(url);
  try {
    return await res.text();
  } catch (err) {
    throw new NetworkError(`${url}: ${err.message}`);
  }
}

export async function getBytes(url) {
  const res = await get(url);
  try {
    return new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    throw new NetworkError(`${url}: ${err.message}`);
  }
}
