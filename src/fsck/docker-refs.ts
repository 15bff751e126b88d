/**
 * Docker's own record of which driver layers it uses: the layer database under
 * `<data-root>/image/<driver>/layerdb`. Image layers name theirs in `sha256/<chain>/cache-id`,
 * containers in `mounts/<container>/mount-id` and `init-id`, and registrations still being
 * written in `tmp/write-set-*` (protocol.md §2.7).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, errnoOf } from '../errors';

const REFERENCE_FILES: Record<string, readonly string[]> = {
  sha256: ['cache-id'],
  mounts: ['mount-id', 'init-id'],
  tmp: ['cache-id'],
};

/**
 * findLayerDb returns `<docker-root>/image/<driver>/layerdb` for a driver home. The driver name
 * is the home's base name, and the data-root defaults to the home's parent, which is how
 * dockerd lays them out. It throws InvalidArgumentError when an explicit docker root has no
 * layer database, and returns undefined when the guessed one has none.
 */
export async function findLayerDb(home: string, dockerRoot: string | undefined): Promise<string | undefined> {
  const root = dockerRoot ?? path.dirname(home);
  const layerDb = path.join(root, 'image', path.basename(home), 'layerdb');
  const found = await stat(layerDb).then((s) => s.isDirectory(), () => false);
  if (found) return layerDb;
  if (dockerRoot) throw new InvalidArgumentError(`${layerDb} does not exist: is ${dockerRoot} the data-root of the dockerd using ${path.basename(home)}?`);
  return undefined;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
}

async function readId(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim() || undefined;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** readDockerReferences returns every driver layer id that Docker's layer database names. */
export async function readDockerReferences(layerDb: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const [sub, files] of Object.entries(REFERENCE_FILES)) {
    for (const entry of await listDir(path.join(layerDb, sub))) {
      for (const file of files) {
        const id = await readId(path.join(layerDb, sub, entry, file));
        if (id) ids.add(id);
      }
    }
  }
  return ids;
}
