/**
 * What a target call costs the executor's process, apart from everything else an execution does:
 * `TargetClient` POSTing to the no-op target process (bench/noop-target.ts) with as many calls in
 * flight as the executor keeps by default (EXECUTOR_CONCURRENCY, 256), one keep-alive connection each.
 * For each round it prints this process's CPU time (user and system) per call, which is what the
 * client costs and a steadier figure than the rate on a shared machine, and the calls per second.
 *
 *   npm run build && node dist/bench/target-client.bench.js [--calls 50000] [--concurrency 256] [--rounds 3]
 */
import { TargetClient } from '@flotilla/execution';
import { arg, startNoopTarget, stopProcess } from './support';

const calls = Number(arg('calls', '50000'));
const concurrency = Number(arg('concurrency', '256'));
const rounds = Number(arg('rounds', '3'));
const BODY = JSON.stringify({ executionId: 'bat_bench.0', batchId: 'bat_bench', index: 0, inputs: { n: '0' }, attempt: 1 });

/** `count` calls, `concurrency` at a time; fails on anything but a 200. */
const run = async (client: TargetClient, url: string, count: number): Promise<void> => {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      next++;
      const result = await client.call({ url, body: BODY, idempotencyKey: `bat_bench.${next}`, timeoutMs: 30_000 });
      if (result.kind !== 'response' || result.status !== 200) throw new Error(`call failed: ${JSON.stringify(result)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
};

const main = async (): Promise<void> => {
  const { child: target, url } = await startNoopTarget();
  const client = new TargetClient({ maxSocketsPerOrigin: concurrency });
  try {
    // Connections opened and code warmed up before anything is counted.
    await run(client, url, Math.min(calls, 10_000));
    for (let round = 1; round <= rounds; round++) {
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      await run(client, url, calls);
      const seconds = (performance.now() - started) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      console.log(
        `round ${round}\t${((cpu.user + cpu.system) / calls).toFixed(1)} µs CPU per call ` +
          `(${(cpu.user / calls).toFixed(1)} user, ${(cpu.system / calls).toFixed(1)} system)\t${Math.round(calls / seconds)} calls/s`,
      );
    }
  } finally {
    client.close();
    await stopProcess(target);
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
