/**
 * Waiting for what Strata finishes in the background (idle unmounts, deleting removed layers):
 * the check is retried until it passes (and what it returns is returned), and its last failure
 * is what the test reports.
 */
export async function eventually<T = void>(check: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
