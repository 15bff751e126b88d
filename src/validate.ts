/** Validating what a front end received, for both wire protocols. */
import type { z } from 'zod';
import { InvalidArgumentError } from './errors';

/** parseRequest validates a decoded request; a failure is InvalidArgumentError naming the first bad field. */
export function parseRequest<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
  throw new InvalidArgumentError(`${where}${issue.message}`);
}
