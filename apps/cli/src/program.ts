import { Command, Option } from 'commander';
import { ROLES } from '@flotilla/platform';
import { batchesTable, listBatches } from './batches';
import { CliError, type CliContext } from './context';
import { batchHistory, historyRow, historyTable, type HistoryLine } from './history';
import { keySpec, keyView, keysTable, withKeys } from './keys';
import { operate, operatorActor, parseStatus, type OperatorAction } from './operate';
import { progressBar } from './progress';
import { describeDifference, projectionNamed, projectionNames, replayProjection, verifyProjection } from './projections';
import { batchAt, describeBatchAt, parseMoment } from './state';
import { tailEvents } from './tail';

const STORE_HELP = `
The store is the one the services use: EVENT_STORE (sqlite:<path>, postgres://… or esdb://…), else <DATA_DIR>/events.sqlite
(DATA_DIR defaults to ./data). Read models come from the service's state file in DATA_DIR
(standalone-state.sqlite or ingest-api-state.sqlite), or --state-db / STATE_DB.
Exit codes: 0 done, 1 not found / refused / differences found, 2 bad usage, 3 the state file is in use.`;

/**
 * The `flotilla` command line: each command opens the store through the context and hands it to
 * the logic in its own module; this file only says the commands, their options and their output.
 */
export const buildProgram = (context: CliContext): Command => {
  const { out, err } = context.output;
  const program = new Command('flotilla')
    .description('Operate a Flotilla: audit batches, travel back in time, rebuild and verify read models, act on batches.')
    .addHelpText('after', STORE_HELP)
    .showHelpAfterError()
    .exitOverride();
  program.configureOutput({ writeOut: (text) => out(text.trimEnd()), writeErr: (text) => err(text.trimEnd()) });

  program
    .command('history')
    .description('Every event of a batch, in order: time, position, type, actor, reason and the essential data')
    .argument('<batchId>')
    .option('--json', 'one JSON object per line (JSON Lines), for scripts: position, revision, type, time, recordedAt, actor, reason, data')
    .option('--type <type>', 'only events of this type (e.g. BatchPaused)')
    .option('--actor <actor>', 'only events recorded with this actor (e.g. operator/alice)')
    .action(async (batchId: string, options: { json?: boolean; type?: string; actor?: string }) => {
      const store = await context.eventStore();
      const filter = {
        ...(options.type === undefined ? {} : { type: options.type }),
        ...(options.actor === undefined ? {} : { actor: options.actor }),
      };
      const lines: HistoryLine[] = [];
      for await (const line of batchHistory(store, batchId, filter)) {
        if (options.json) out(JSON.stringify(line));
        else lines.push(line);
      }
      if (!options.json) for (const row of historyTable(lines)) out(row);
    });

  program
    .command('state')
    .description('The batch as it was at a moment (status, progress counts, schedule, settings), rebuilt by replaying its stream up to it')
    .argument('<batchId>')
    .requiredOption(
      '--at <moment>',
      'an ISO 8601 time (events recorded at or before it) or a position as `history` shows it (events up to it)',
    )
    .option('--json', 'one JSON object')
    .action(async (batchId: string, options: { at: string; json?: boolean }) => {
      const batch = await batchAt(await context.eventStore(), batchId, parseMoment(options.at));
      if (options.json) out(JSON.stringify(batch));
      else for (const line of describeBatchAt(batch)) out(line);
    });

  const projectionArgument = () => `<projection>`;
  program
    .command('replay')
    .description(
      `Rebuild a projection (${projectionNames().join(', ')}) in its state file, with a progress bar. ` +
        'Refused while a service has the state file open: stop the service, replay, start it again. ' +
        'The rebuild is made in a scratch file and swapped in with one transaction, so the live rows are untouched until it is complete.',
    )
    .argument(projectionArgument())
    .option('--from-scratch', 'from the first event, dropping every row first (default: go on from its checkpoint)')
    .option('--state-db <path>', 'the state file (default: the service state file in DATA_DIR)')
    .action(async (name: string, options: { fromScratch?: boolean; stateDb?: string }) => {
      const projection = projectionNamed(name);
      const path = context.requireStateDbPath(options.stateDb);
      const result = await replayProjection(await context.eventStore(), path, projection, {
        fromScratch: options.fromScratch === true,
        progress: progressBar(`replay ${name}`, err),
      });
      out(
        `${result.projection} rebuilt${result.fromScratch ? ' from scratch' : ''} in ${path}, up to position ${result.position ?? 'none'}`,
      );
    });

  program
    .command('verify')
    .description(
      'Rebuild a projection into a scratch copy, up to where the live one stands, and report every difference; exit 1 when they differ. ' +
        'Never writes the state file: safe while the services run.',
    )
    .argument(projectionArgument())
    .option('--json', 'the result as one JSON object: projection, position, rowsCompared, differences')
    .option('--state-db <path>', 'the state file (default: the service state file in DATA_DIR)')
    .action(async (name: string, options: { json?: boolean; stateDb?: string }) => {
      const projection = projectionNamed(name);
      const path = context.requireStateDbPath(options.stateDb);
      const result = await verifyProjection(await context.eventStore(), path, projection, { progress: progressBar(`verify ${name}`, err) });
      const differs = result.differences.length > 0 || result.versionMismatch !== undefined;
      if (options.json) out(JSON.stringify(result));
      else {
        if (result.versionMismatch)
          out(
            `${name}: the live rows were written by version ${result.versionMismatch.live}, the code is at ${result.versionMismatch.code}`,
          );
        for (const difference of result.differences) out(describeDifference(difference));
        out(
          differs
            ? `${name}: ${result.differences.length} difference(s) in ${result.rowsCompared} rows at position ${result.position ?? 'none'}`
            : `${name}: ${result.rowsCompared} rows match the rebuild at position ${result.position ?? 'none'}`,
        );
      }
      if (differs) throw new CliError('', 1);
    });

  program
    .command('tail')
    .description('Follow new events as they are appended (by any process), until interrupted')
    .option('--batch <batchId>', 'only the events of this batch')
    .option('--type <type>', 'only events of this type')
    .option('--json', 'one JSON object per line: stream, position, revision, type, time, recordedAt, actor, reason, data')
    .action(async (options: { batch?: string; type?: string; json?: boolean }) => {
      const store = await context.eventStore();
      await new Promise<void>((resolve, reject) => {
        const subscription = tailEvents(
          store,
          {
            ...(options.batch === undefined ? {} : { batchId: options.batch }),
            ...(options.type === undefined ? {} : { type: options.type }),
          },
          (line) => out(options.json ? JSON.stringify(line) : [line.stream, ...historyRow(line)].join('  ')),
          reject,
        );
        // On stderr, so that a script (or a test) knows from when on nothing is missed.
        subscription.caughtUp.then(() => err('tail: following new events (Ctrl-C to stop)'), reject);
        const stop = () => void subscription.stop().then(resolve, reject);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  program
    .command('batches')
    .description('The batches, newest first, from the batch-summary read model')
    .addOption(
      new Option('--status <status>', 'only batches in this status').choices(['pending', 'running', 'paused', 'completed', 'cancelled']),
    )
    .option('--json', 'one JSON object per line, as GET /v1/batches/{id} answers')
    .option(
      '--state-db <path>',
      'the state file (default: the service state file in DATA_DIR; without one, rebuilt in memory from the store)',
    )
    .action(async (options: { status?: string; json?: boolean; stateDb?: string }) => {
      const batches = await listBatches(await context.eventStore(), context.stateDbPath(options.stateDb), parseStatus(options.status));
      if (options.json) for (const batch of batches) out(JSON.stringify(batch));
      else for (const line of batchesTable(batches)) out(line);
    });

  for (const [action, summary] of [
    ['pause', 'Pause a batch: no further execution is triggered until resume'],
    ['resume', 'Resume a paused batch: its pending executions are re-planned from now'],
    ['cancel', 'Cancel a batch (final): its pending executions are cancelled'],
  ] as const satisfies readonly (readonly [OperatorAction, string])[])
    program
      .command(action)
      .description(`${summary}. Recorded in the batch history with the actor operator/<name> and the reason.`)
      .argument('<batchId>')
      .requiredOption('--reason <reason>', 'why, for the history')
      .option('--as <name>', 'the operator recorded as the actor, as operator/<name> (default: the OS user name)')
      .option('--json', 'the batch after the action, as `state --json` prints it')
      .action(async (batchId: string, options: { reason: string; as?: string; json?: boolean }) => {
        const actor = operatorActor(options.as);
        const batch = await operate(await context.eventStore(), action, batchId, { actor, reason: options.reason });
        if (options.json) out(JSON.stringify(batch));
        else out(`${batchId}: ${action} recorded as ${actor} at position ${batch.asOf.position}; status ${batch.status}`);
      });

  const keys = program.command('keys').description('API keys: create (shown once), list, revoke. Recorded with the actor operator/<name>.');
  keys
    .command('create')
    .description('Create a key for a team; the key is printed once and stored only as its SHA-256')
    .requiredOption('--team <team>', 'the team the key belongs to')
    .addOption(new Option('--role <role>', 'what the key may do').choices(ROLES).makeOptionMandatory())
    .requiredOption('--name <name>', 'what the key is for; its events are recorded as <team>/<name>')
    .option('--as <name>', 'the operator recorded as the actor, as operator/<name> (default: the OS user name)')
    .option('--json', 'the key as POST /v1/keys answers it: id, key, team, role, name, createdAt')
    .action(async (options: { team: string; role: string; name: string; as?: string; json?: boolean }) => {
      const spec = keySpec(options);
      const actor = operatorActor(options.as);
      const created = await withKeys(await context.eventStore(), (registry) => registry.create({ ...spec, actor, now: new Date() }));
      if (created === undefined) throw new CliError('The key was not created: its id was taken; try again', 1);
      const view = keyView(created.record);
      if (options.json)
        out(
          JSON.stringify({ id: view.id, key: created.key, team: view.team, role: view.role, name: view.name, createdAt: view.createdAt }),
        );
      else {
        out(created.key);
        err(`key ${view.id} for ${view.team}/${view.name} (${view.role}): shown this once, keep it now`);
      }
    });
  keys
    .command('list')
    .description('Every key, revoked ones included, oldest first (never the key nor its hash)')
    .option('--json', 'one JSON object per line')
    .action(async (options: { json?: boolean }) => {
      const views = await withKeys(await context.eventStore(), async (registry) => registry.list().map(keyView));
      if (options.json) for (const view of views) out(JSON.stringify(view));
      else for (const line of keysTable(views)) out(line);
    });
  keys
    .command('revoke')
    .description('Revoke a key: every process refuses it within a second')
    .argument('<keyId>')
    .option('--as <name>', 'the operator recorded as the actor, as operator/<name> (default: the OS user name)')
    .action(async (keyId: string, options: { as?: string }) => {
      const actor = operatorActor(options.as);
      const revoked = await withKeys(await context.eventStore(), async (registry) => {
        if (!registry.list().some((key) => key.id === keyId)) throw new CliError(`No key has the id ${keyId}`, 1);
        return registry.revoke(keyId, actor, new Date());
      });
      out(`${revoked.id}: revoked at ${revoked.revokedAt ?? ''} by ${actor}`);
    });

  return program;
};
