// Every command pays Node's start-up plus the imports of the command tree (#14): the tree is built
// from commands/*.ts, which import commander and nothing heavy, and each action lives in
// actions/*.ts, imported only when its command runs. client-node (~800 modules), the chart
// engine and yaml are thus loaded by the commands that use them, not by `tp version`.
import type { Command } from 'commander';

type Load = () => Promise<(...args: never[]) => unknown>;
const loaders = new WeakMap<Command, Load>();

/** Makes `cmd` run the function `load` resolves to (an action module's export), importing it
 * only when the command runs. A module that fails to load fails the command like any other
 * error; test/unit/cli/lazy.test.ts loads every command's action through actionLoader(). */
export function lazyAction<A extends unknown[]>(cmd: Command, load: () => Promise<(...args: A) => unknown>): Command {
  loaders.set(cmd, load as Load);
  return cmd.action(async (...args: A) => {
    await (
      await load()
    )(...args);
  });
}

/** How `cmd`'s action is loaded; undefined for a command without one (a group like `tp helm`). */
export function actionLoader(cmd: Command): Load | undefined {
  return loaders.get(cmd);
}

/** The root of the tree a command belongs to. */
export function rootOf(cmd: Command): Command {
  let c = cmd;
  while (c.parent) c = c.parent;
  return c;
}
