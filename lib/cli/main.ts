#!/usr/bin/env node
// The `tp` command. Parses flags, talks to the user daemon, prints. No cluster logic lives here.
import { Command } from 'commander';
import { TP_VERSION } from '../common/version.js';

const program = new Command('tp')
  .description('Reach a Kubernetes cluster from your workstation and send its traffic to local code')
  .version(TP_VERSION, '--client-version', 'print the client version');

program
  .command('version')
  .description('print the versions of the client, the daemons and the traffic manager')
  .action(() => {
    console.log(`Client: v${TP_VERSION}`);
  });

await program.parseAsync(process.argv);
