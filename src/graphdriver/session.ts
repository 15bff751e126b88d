/**
 * The driver session: what GraphDriver.Init set up. Docker sends Init once per daemon start and
 * not again when the plugin restarts, so the Init parameters are kept in the state directory
 * and a restarted Strata resumes from them.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { InvalidArgumentError, NotInitialisedError, errnoOf } from '../errors';
import { IdMapping } from '../idmap';
import type { Logger } from '../sys/log';
import type { LayerStore } from '../store/layer-store';
import { writeFileAtomic } from '../store/meta';
import { parseDriverOptions, type DriverOptions } from './driver-options';
import type { StoreSample } from '../telemetry/metrics';

const RangeSchema = z.object({ containerId: z.number().int().min(0), hostId: z.number().int().min(0), size: z.number().int().min(1) });

export const InitParamsSchema = z.object({
  home: z.string().refine((p) => path.isAbsolute(p) && path.normalize(p) === p.replace(/\/+$/, '') && p !== '/', 'must be a normalized absolute path other than /'),
  options: z.array(z.string()),
  uidMaps: z.array(RangeSchema),
  gidMaps: z.array(RangeSchema),
});

/** InitParams are the validated parameters of GraphDriver.Init. */
export type InitParams = z.infer<typeof InitParamsSchema>;

/** OpenStore probes the host and opens a layer store for the given parameters. */
export type OpenStore = (params: InitParams, idMap: IdMapping) => Promise<LayerStore>;

export class DriverSession {
  #store: LayerStore | undefined;
  #options: DriverOptions = {};
  readonly #stateFile: string;

  constructor(
    stateDir: string,
    readonly open: OpenStore,
    readonly log: Logger,
  ) {
    this.#stateFile = path.join(stateDir, 'init.json');
  }

  /** init takes the parameters of GraphDriver.Init into use and remembers them. */
  async init(params: InitParams): Promise<void> {
    // The same rules resume() applies: a Home that resume would refuse must not be taken into use.
    const checked = InitParamsSchema.safeParse(params);
    if (!checked.success) {
      const issues = checked.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`);
      throw new InvalidArgumentError(`invalid GraphDriver.Init parameters: ${issues.join('; ')}`);
    }
    const options = parseDriverOptions(params.options);
    await this.#store?.close();
    const store = await this.open(params, new IdMapping(params.uidMaps, params.gidMaps));
    await mkdir(path.dirname(this.#stateFile), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.#stateFile, JSON.stringify(params), 0o600);
    this.#store = store;
    this.#options = options;
  }

  /** resume reopens the store from the remembered Init, if any; it reports whether it did. */
  async resume(): Promise<boolean> {
    let text: string;
    try {
      text = await readFile(this.#stateFile, 'utf8');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return false;
      throw err;
    }
    const params = InitParamsSchema.parse(JSON.parse(text));
    this.#options = parseDriverOptions(params.options);
    this.#store = await this.open(params, new IdMapping(params.uidMaps, params.gidMaps));
    this.log.info({ home: params.home }, 'resumed from the last Init');
    return true;
  }

  /** close lets the open store finish its background work (see LayerStore.close). */
  async close(): Promise<void> {
    await this.#store?.close();
  }

  /** options are the Init options in force (none before Init). */
  get options(): DriverOptions {
    return this.#options;
  }

  /** home is the open store's home; undefined before Init. */
  home(): string | undefined {
    return this.#store?.home;
  }

  /** sample reads what the open store holds now, for metrics and status; undefined before Init. */
  async sample(): Promise<StoreSample | undefined> {
    const store = this.#store;
    return store && { layers: await store.layerCount(), ...store.activity() };
  }

  /** store returns the open store, or throws NotInitialisedError before Init. */
  store(): LayerStore {
    if (!this.#store) throw new NotInitialisedError();
    return this.#store;
  }
}
