/**
 * The snapshot catalog: which keys exist, their kind, parent, labels, times and committed
 * usage, and the numeric id that names each snapshot's directory. It lives in SQLite (Node's
 * built-in `node:sqlite`), in WAL mode with full syncs, so that every change is one atomic,
 * durable transaction: a kill -9 at any instant leaves either the old or the new catalog.
 *
 * Ids come from AUTOINCREMENT, which never hands out an id that a committed transaction has
 * used, so a directory left behind by a removed snapshot can never be mistaken for a new one.
 * All calls are synchronous; a caller that keeps a transaction free of awaits has it to itself.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Kind, Labels, SnapshotInfo, Usage } from '../core/snapshots';

/** SnapshotRow is one snapshot as the catalog keeps it. */
export interface SnapshotRow {
  id: number;
  key: string;
  parentId: number | null;
  kind: Kind;
  createdUs: number;
  updatedUs: number;
  size: number;
  inodes: number;
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS snapshots (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  parent INTEGER REFERENCES snapshots(id),
  kind TEXT NOT NULL CHECK (kind IN ('view', 'active', 'committed')),
  created_us INTEGER NOT NULL,
  updated_us INTEGER NOT NULL,
  size INTEGER NOT NULL DEFAULT 0,
  inodes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS snapshots_by_parent ON snapshots(parent);
CREATE TABLE IF NOT EXISTS labels (
  snapshot INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (snapshot, name)
) WITHOUT ROWID;
`;

const ROW = `SELECT id, key, parent AS parentId, kind, created_us AS createdUs, updated_us AS updatedUs, size, inodes FROM snapshots`;

export class Catalog {
  readonly #db: DatabaseSync;
  readonly #q: Record<string, StatementSync>;

  private constructor(db: DatabaseSync) {
    this.#db = db;
    const p = (sql: string) => db.prepare(sql);
    this.#q = {
      byKey: p(`${ROW} WHERE key = ?`),
      byId: p(`${ROW} WHERE id = ?`),
      all: p(`${ROW} ORDER BY id`),
      keyOf: p('SELECT key FROM snapshots WHERE id = ?'),
      labelsOf: p('SELECT name, value FROM labels WHERE snapshot = ? ORDER BY name'),
      allLabels: p('SELECT snapshot, name, value FROM labels ORDER BY snapshot, name'),
      chain: p(`WITH RECURSIVE chain(id, parent, depth) AS (
          SELECT id, parent, 0 FROM snapshots WHERE id = ?
          UNION ALL SELECT s.id, s.parent, c.depth + 1 FROM snapshots s JOIN chain c ON s.id = c.parent)
        SELECT id FROM chain WHERE depth > 0 ORDER BY depth`),
      hasChild: p('SELECT 1 FROM snapshots WHERE parent = ? LIMIT 1'),
      insert: p('INSERT INTO snapshots (key, parent, kind, created_us, updated_us) VALUES (?, ?, ?, ?, ?)'),
      commit: p("UPDATE snapshots SET key = ?, kind = 'committed', created_us = ?, updated_us = ?, size = ?, inodes = ? WHERE id = ?"),
      touch: p('UPDATE snapshots SET updated_us = ? WHERE id = ?'),
      clearLabels: p('DELETE FROM labels WHERE snapshot = ?'),
      putLabel: p('INSERT OR REPLACE INTO labels (snapshot, name, value) VALUES (?, ?, ?)'),
      delete: p('DELETE FROM snapshots WHERE id = ?'),
      ids: p('SELECT id FROM snapshots'),
      kindCounts: p('SELECT kind, count(*) AS n FROM snapshots GROUP BY kind'),
    };
  }

  /** open opens (creating if needed) the catalog in `file`. */
  static open(file: string): Catalog {
    const db = new DatabaseSync(file, { enableForeignKeyConstraints: true, timeout: 5000 });
    try {
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = FULL');
      const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
      if (version > SCHEMA_VERSION) throw new Error(`the catalog was written by a newer strata (schema ${version}, this one knows ${SCHEMA_VERSION})`);
      db.exec(SCHEMA);
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    } catch (err) {
      db.close();
      throw err;
    }
    return new Catalog(db);
  }

  /** transaction runs `fn` as one write transaction: all of it commits, or none of it on a throw. */
  transaction<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.#db.exec('COMMIT');
      return result;
    } catch (err) {
      // A COMMIT that failed (disk full) may have ended the transaction already.
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  byKey(key: string): SnapshotRow | undefined {
    return this.#q.byKey!.get(key) as SnapshotRow | undefined;
  }

  byId(id: number): SnapshotRow | undefined {
    return this.#q.byId!.get(id) as SnapshotRow | undefined;
  }

  /** parentIds lists the ids below `id`, nearest first. */
  parentIds(id: number): number[] {
    return (this.#q.chain!.all(id) as Array<{ id: number }>).map((r) => r.id);
  }

  hasChildren(id: number): boolean {
    return this.#q.hasChild!.get(id) !== undefined;
  }

  /** ids returns every snapshot id: the directories that belong to a snapshot. */
  ids(): Set<number> {
    return new Set((this.#q.ids!.all() as Array<{ id: number }>).map((r) => r.id));
  }

  /** countByKind returns how many snapshots there are of each kind. */
  countByKind(): Record<Kind, number> {
    const counts: Record<Kind, number> = { committed: 0, active: 0, view: 0 };
    for (const r of this.#q.kindCounts!.all() as Array<{ kind: Kind; n: number }>) counts[r.kind] = r.n;
    return counts;
  }

  /** insert adds a snapshot and returns its id. */
  insert(key: string, parentId: number | null, kind: Kind, labels: Labels, nowUs: number): number {
    const { lastInsertRowid } = this.#q.insert!.run(key, parentId, kind, nowUs, nowUs);
    const id = Number(lastInsertRowid);
    this.#putLabels(id, labels);
    return id;
  }

  /** commit renames an active snapshot to `name`, makes it committed and records its usage and labels. */
  commit(id: number, name: string, labels: Labels, usage: Usage, nowUs: number): void {
    this.#q.commit!.run(name, nowUs, nowUs, usage.size, usage.inodes, id);
    this.#q.clearLabels!.run(id);
    this.#putLabels(id, labels);
  }

  /** setLabels replaces the labels of a snapshot and its update time. */
  setLabels(id: number, labels: Labels, nowUs: number): void {
    this.#q.touch!.run(nowUs, id);
    this.#q.clearLabels!.run(id);
    this.#putLabels(id, labels);
  }

  delete(id: number): void {
    this.#q.delete!.run(id);
  }

  labels(id: number): Labels {
    const labels: Labels = {};
    for (const r of this.#q.labelsOf!.all(id) as Array<{ name: string; value: string }>) labels[r.name] = r.value;
    return labels;
  }

  /** info returns the contract's view of a row. */
  info(row: SnapshotRow): SnapshotInfo {
    const parent = row.parentId === null ? '' : ((this.#q.keyOf!.get(row.parentId) as { key: string } | undefined)?.key ?? '');
    return { name: row.key, parent, kind: row.kind, createdUs: row.createdUs, updatedUs: row.updatedUs, labels: this.labels(row.id) };
  }

  /** all returns every snapshot's info in id order, which puts parents before their children. */
  all(): SnapshotInfo[] {
    const rows = this.#q.all!.all() as unknown as SnapshotRow[];
    const keys = new Map(rows.map((r) => [r.id, r.key]));
    const labels = new Map<number, Labels>();
    for (const l of this.#q.allLabels!.all() as Array<{ snapshot: number; name: string; value: string }>) {
      let set = labels.get(l.snapshot);
      if (!set) labels.set(l.snapshot, (set = {}));
      set[l.name] = l.value;
    }
    return rows.map((r) => ({
      name: r.key,
      parent: r.parentId === null ? '' : (keys.get(r.parentId) ?? ''),
      kind: r.kind,
      createdUs: r.createdUs,
      updatedUs: r.updatedUs,
      labels: labels.get(r.id) ?? {},
    }));
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #putLabels(id: number, labels: Labels): void {
    for (const [name, value] of Object.entries(labels)) this.#q.putLabel!.run(id, name, value);
  }
}
