// On-device storage for the snippet: IndexedDB, falling back to localStorage,
// falling back to memory. Every store holds a few named records (the engine's
// profile bytes, the bounded event log, the ε ledger) under one versioned
// namespace. Nothing here ever leaves the device.
//
// A record that cannot be read back (corrupt, or written by another version)
// is deleted with a console warning; the other records are kept.

const DB_NAME = "cove";
const DB_VERSION = 1;
const STORE = "records";
const LOCAL_PREFIX = "cove:v1:";

/** How long opening IndexedDB may take before localStorage is used instead. */
const OPEN_TIMEOUT_MS = 5000;

/** A store in memory only: used before consent, and when nothing else works. */
export class MemoryStore {
  constructor() {
    this.kind = "memory";
    this.records = new Map();
  }
  async get(key) {
    return this.records.has(key) ? structuredClone(this.records.get(key)) : undefined;
  }
  async set(key, value) {
    this.records.set(key, structuredClone(value));
  }
  async delete(key) {
    this.records.delete(key);
  }
  async clear() {
    this.records.clear();
  }
}

/** IndexedDB: the preferred store (binary values, no size pressure). */
export class IndexedDbStore {
  constructor(db) {
    this.kind = "indexeddb";
    this.db = db;
    // Let another tab (or forget()) delete or upgrade the database.
    db.onversionchange = () => db.close();
  }

  static async open() {
    if (typeof indexedDB === "undefined") throw new Error("IndexedDB is not available");
    const db = await new Promise((resolve, reject) => {
      // An open that never settles (a known Safari bug) must not leave the
      // page loading forever: after OPEN_TIMEOUT_MS the caller falls back,
      // and a late success is closed at once.
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new Error(`IndexedDB did not open within ${OPEN_TIMEOUT_MS} ms`));
      }, OPEN_TIMEOUT_MS);
      const settle = (fn) => (value) => {
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          fn(value);
        } else if (value instanceof IDBDatabase) {
          value.close();
        }
      };
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE);
      };
      request.onsuccess = () => settle(resolve)(request.result);
      request.onerror = () => settle(reject)(request.error);
      request.onblocked = () => settle(reject)(new Error("IndexedDB upgrade blocked"));
    });
    // Another version of the database (a corrupt or foreign one) is reset.
    if (!db.objectStoreNames.contains(STORE)) {
      db.close();
      await IndexedDbStore.destroy();
      return IndexedDbStore.open();
    }
    return new IndexedDbStore(db);
  }

  static destroy() {
    return new Promise((resolve) => {
      if (typeof indexedDB === "undefined") return resolve();
      const request = indexedDB.deleteDatabase(DB_NAME);
      request.onsuccess = request.onerror = request.onblocked = () => resolve();
    });
  }

  transaction(mode, work) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request?.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
    });
  }

  get(key) {
    return this.transaction("readonly", (store) => store.get(key));
  }
  set(key, value) {
    return this.transaction("readwrite", (store) => store.put(value, key));
  }
  delete(key) {
    return this.transaction("readwrite", (store) => store.delete(key));
  }
  async clear() {
    await this.transaction("readwrite", (store) => store.clear());
  }

  close() {
    this.db.close();
  }
}

/** localStorage: strings only, so bytes are stored as base64. */
export class LocalStorageStore {
  constructor() {
    this.kind = "localstorage";
    const probe = `${LOCAL_PREFIX}probe`;
    localStorage.setItem(probe, "1");
    localStorage.removeItem(probe);
  }
  async get(key) {
    const text = localStorage.getItem(LOCAL_PREFIX + key);
    if (text === null) return undefined;
    return decode(JSON.parse(text));
  }
  async set(key, value) {
    localStorage.setItem(LOCAL_PREFIX + key, JSON.stringify(encode(value)));
  }
  async delete(key) {
    localStorage.removeItem(LOCAL_PREFIX + key);
  }
  async clear() {
    for (let i = localStorage.length - 1; i >= 0; i--) {
      const key = localStorage.key(i);
      if (key?.startsWith("cove:")) localStorage.removeItem(key);
    }
  }
}

function encode(value) {
  if (value instanceof Uint8Array) {
    let binary = "";
    for (const byte of value) binary += String.fromCharCode(byte);
    return { $bytes: btoa(binary) };
  }
  return { $json: value };
}

function decode(stored) {
  if (stored && typeof stored.$bytes === "string") {
    const binary = atob(stored.$bytes);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }
  if (stored && "$json" in stored) return stored.$json;
  throw new Error("unrecognised record");
}

/** The best persistent store this browser offers: IndexedDB, then localStorage, then memory. */
export async function openPersistentStore() {
  try {
    return await IndexedDbStore.open();
  } catch (error) {
    console.warn("cove: IndexedDB unavailable, falling back to localStorage:", error);
  }
  try {
    return new LocalStorageStore();
  } catch (error) {
    console.warn("cove: localStorage unavailable, keeping data in memory only:", error);
  }
  return new MemoryStore();
}

/**
 * Reads a record, deleting it (with a warning) when it cannot be read or when
 * `check` rejects it. Returns undefined in both cases. `read` is the read
 * itself (`store.get(key)`), for a caller that started it earlier.
 */
export async function readRecord(store, key, check = () => {}, read = store.get(key)) {
  let value;
  try {
    value = await read;
    if (value !== undefined) check(value);
    return value;
  } catch (error) {
    console.warn(`cove: the stored ${key} was unreadable and has been reset:`, error?.message ?? error);
    try {
      await store.delete(key);
    } catch {}
    return undefined;
  }
}

/** Deletes everything Cove stored in this browser: IndexedDB, localStorage, Cache API. */
export async function forgetEverything(cacheName) {
  await IndexedDbStore.destroy();
  try {
    await new LocalStorageStore().clear();
  } catch {}
  if (typeof caches !== "undefined" && cacheName) await caches.delete(cacheName);
}
