/** The body of a GraphDriver JSON request: Docker sends it without a Content-Type. */
import { InvalidArgumentError } from '../errors';

/** parseJsonBody decodes a request body: empty is `{}`, anything else must be JSON (else InvalidArgumentError). */
export function parseJsonBody(body: string): unknown {
  const text = body.trim();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidArgumentError('request body is not valid JSON');
  }
}
