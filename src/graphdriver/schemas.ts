/**
 * The wire shapes of the GraphDriver protocol as dockerd 20.10 sends them (see protocol.md
 * §1.4): every field may be absent, Opts/UIDMaps/GIDMaps may be null, id maps use snake_case.
 */
import { z } from 'zod';
import { StrataError } from '../errors';
import { checkLayerId, checkMountLabel } from '../store/ids';

// Ids and labels are checked by the store's own rules, with their readable messages.
function checked(check: (v: string) => unknown) {
  return z.string().superRefine((value, ctx) => {
    try {
      check(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof StrataError ? err.message : String(err) });
    }
  });
}

const layerId = checked((v) => checkLayerId(v));
const optionalParent = z.string().default('').pipe(checked((v) => v === '' || checkLayerId(v, 'parent id')));
const mountLabel = z.string().default('').pipe(checked((v) => v === '' || checkMountLabel(v)));

const IdMapSchema = z.object({
  container_id: z.number().int().min(0),
  host_id: z.number().int().min(0),
  size: z.number().int().min(1),
});

export const InitRequest = z.object({
  Home: z.string().min(1),
  Opts: z.array(z.string()).nullish().transform((v) => v ?? []),
  UIDMaps: z.array(IdMapSchema).nullish().transform((v) => v ?? []),
  GIDMaps: z.array(IdMapSchema).nullish().transform((v) => v ?? []),
});

export const CreateRequest = z.object({
  ID: layerId,
  Parent: optionalParent,
  MountLabel: mountLabel,
  StorageOpt: z.record(z.string(), z.string()).nullish().transform((v) => v ?? {}),
});

export const IdRequest = z.object({ ID: layerId });

export const GetRequest = z.object({ ID: layerId, MountLabel: mountLabel });

export const DiffRequest = z.object({ ID: layerId, Parent: optionalParent });

export const ApplyDiffQuery = z.object({ id: layerId, parent: optionalParent });

export const EmptyRequest = z.object({}).loose();

/** Strata.Status (Strata's own route): `gc` runs a full garbage collection before memory is read. */
export const StatusRequest = z.object({ gc: z.boolean().default(false) }).loose();
