/**
 * Waiting for what Strata finishes in the background (idle unmounts, deleting removed layers):
 * the check is retried until it passes, and its last failure is what the test reports.
 */
export async function eventually(check: () => void | Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
