// First: on a Node too old for node:sqlite this exits with one clear line, before any import below fails.
import '../../../scripts/check-node.cjs';
import 'reflect-metadata';
import { CommanderError } from 'commander';
import { CliContext, CliError } from './context';
import { buildProgram } from './program';

/** `flotilla <command>`: the operator's command line (`flotilla --help`). */
const main = async (): Promise<number> => {
  const context = CliContext.fromEnvironment();
  try {
    await buildProgram(context).parseAsync(process.argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof CliError) {
      if (error.message !== '') context.output.err(`flotilla: ${error.message}`);
      return error.exitCode;
    }
    context.output.err(`flotilla: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return 1;
  } finally {
    await context.close();
  }
};

void main().then((code) => {
  process.exitCode = code;
});
