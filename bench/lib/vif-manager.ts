// bench/vif's manager: the loopback manager (TunnelServer + DirectDialer, its port on stdout) run
// under Netns.node(), so that it can be told to exit normally ({ cmd: 'exit' }, which lets
// --cpu-prof write its profile) and leaves with its parent.
import './loopback-manager.js';

process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'exit') process.exit(0);
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true, pid: process.pid });
