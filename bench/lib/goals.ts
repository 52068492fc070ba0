// The figures of issue #14 ("Goals"), by the key each bench prints with --json, and how
// bench/run.ts shows them. Ratios are to the baseline of the same run (worse of up/down where the
// issue says so); `_ms` keys are added milliseconds; `_mib` keys MiB of RSS.

export type Figures = Record<string, number>;

export interface Goal {
  key: string;
  figure: string;
  /** The goal as the issue states it; '' for figures shown for comparison only (the peers). */
  goal: string;
  unit: 'ratio' | 'added_ms' | 'ms' | 'mib' | 'pct' | 's_per_gib';
  /** Whether this run's value meets the goal; undefined when there is no goal. */
  met?: (x: number, all: Figures) => boolean;
  /** Which bench measures it, for "not measured" rows. */
  source: 'vif' | 'socks' | 'cli-start' | 'cluster';
}

const MB_IN_MIB = 1e6 / 2 ** 20; // the "150 MB" in MiB

export const GOALS: Goal[] = [
  {
    key: 'vif_1flow',
    figure: 'VIF, 1 flow, worse of up/down ÷ direct veth (iperf3)',
    goal: '≥ 0.50×, ahead of dante',
    unit: 'ratio',
    source: 'vif',
    met: (x, all) =>
      x >= 0.5 && (all.vif_peer_1flow === undefined || all.dante_1flow === undefined || all.vif_peer_1flow > all.dante_1flow),
  },
  {
    key: 'vif_4flow',
    figure: 'VIF, 4 flows, worse of up/down ÷ direct veth (iperf3)',
    goal: '≥ 0.50×',
    unit: 'ratio',
    source: 'vif',
    met: (x) => x >= 0.5,
  },
  {
    key: 'vif_peer_1flow',
    figure: 'peers, same Node client and sink: tp VIF, worse of up/down ÷ direct',
    goal: 'ahead of dante',
    unit: 'ratio',
    source: 'vif',
    met: (x, all) => all.dante_1flow === undefined || x > all.dante_1flow,
  },
  { key: 'dante_1flow', figure: 'peers: dante (C SOCKS5 server), worse of up/down ÷ direct', goal: '', unit: 'ratio', source: 'vif' },
  {
    key: 'dante_veth_1flow',
    figure: "peers: dante to the direct path's sink across the veth (as ssh -L, sshuttle)",
    goal: '',
    unit: 'ratio',
    source: 'vif',
  },
  { key: 'ssh_1flow', figure: 'peers: ssh -L (OpenSSH), worse of up/down ÷ direct', goal: '', unit: 'ratio', source: 'vif' },
  {
    key: 'sshuttle_1flow',
    figure: 'peers: sshuttle (nat method, over ssh), worse of up/down ÷ direct',
    goal: '',
    unit: 'ratio',
    source: 'vif',
  },
  { key: 'vif_peer_newflow_added_ms', figure: 'peers: new flow + PING/PONG p50, added: tp VIF', goal: '', unit: 'added_ms', source: 'vif' },
  { key: 'dante_newflow_added_ms', figure: 'peers: the same, dante', goal: '', unit: 'added_ms', source: 'vif' },
  { key: 'ssh_newflow_added_ms', figure: 'peers: the same, ssh -L', goal: '', unit: 'added_ms', source: 'vif' },
  { key: 'sshuttle_newflow_added_ms', figure: 'peers: the same, sshuttle', goal: '', unit: 'added_ms', source: 'vif' },
  {
    key: 'socks_1flow',
    figure: 'SOCKS, 1 flow, worse of up/down ÷ direct loopback',
    goal: '≥ 0.60×',
    unit: 'ratio',
    source: 'socks',
    met: (x) => x >= 0.6,
  },
  {
    key: 'pf_up',
    figure: 'through the port-forward, up ÷ raw kubectl port-forward',
    goal: '≥ 0.95×',
    unit: 'ratio',
    source: 'cluster',
    met: (x) => x >= 0.95,
  },
  {
    key: 'pf_down',
    figure: 'through the port-forward, down ÷ raw kubectl port-forward',
    goal: '≥ 0.95×',
    unit: 'ratio',
    source: 'cluster',
    met: (x) => x >= 0.95,
  },
  {
    key: 'direct_vs_pf',
    figure: 'direct route ÷ port-forward, worse of up/down',
    goal: '≥ 3×',
    unit: 'ratio',
    source: 'cluster',
    met: (x) => x >= 3,
  },
  {
    key: 'vif_newconn_added_ms',
    figure: 'new connection + GET via VIF, added p50',
    goal: '≤ +0.40 ms',
    unit: 'added_ms',
    source: 'vif',
    met: (x) => x <= 0.4,
  },
  {
    key: 'vif_keepalive_added_ms',
    figure: 'keep-alive GET via VIF, added p50',
    goal: '≤ +0.10 ms',
    unit: 'added_ms',
    source: 'vif',
    met: (x) => x <= 0.1,
  },
  {
    key: 'idle_10k_mib',
    figure: '10k idle flows through tp0, RSS of the larger process (owner, manager)',
    goal: '≤ 150 MB (143 MiB)',
    unit: 'mib',
    source: 'vif',
    met: (x) => x <= 150 * MB_IN_MIB,
  },
  {
    key: 'idle_cpu_pct',
    figure: 'CPU while connected and idle (10k idle flows held 10 s), busier process',
    goal: '0 %',
    unit: 'pct',
    source: 'vif',
    met: (x) => x < 0.01,
  },
  {
    key: 'manager_cpu_s_per_gib',
    figure: 'manager CPU seconds per GiB relayed',
    goal: '≤ 1.0',
    unit: 's_per_gib',
    source: 'cluster',
    met: (x) => x <= 1,
  },
  {
    key: 'manager_idle_mib',
    figure: 'manager RSS, one idle client',
    goal: '≤ 60 MiB',
    unit: 'mib',
    source: 'cluster',
    met: (x) => x <= 60,
  },
  {
    key: 'intercept_1flow',
    figure: 'intercept, 1 flow, worse of up/down ÷ raw kubectl port-forward',
    goal: '≥ 0.9×',
    unit: 'ratio',
    source: 'cluster',
    met: (x) => x >= 0.9,
  },
  {
    key: 'agent_idle_ka_added_ms',
    figure: 'agent in the app path, idle: added keep-alive p50',
    goal: '≤ +0.05 ms',
    unit: 'added_ms',
    source: 'cluster',
    met: (x) => x <= 0.05,
  },
  {
    key: 'agent_idle_new_added_ms',
    figure: 'agent idle: added new-connection p50',
    goal: '≤ +0.15 ms',
    unit: 'added_ms',
    source: 'cluster',
    met: (x) => x <= 0.15,
  },
  {
    key: 'agent_idle_down',
    figure: 'agent idle: download ratio',
    goal: '≥ 0.95×',
    unit: 'ratio',
    source: 'cluster',
    met: (x) => x >= 0.95,
  },
  {
    key: 'agent_tap_ka_added_ms',
    figure: 'wiretap active: added keep-alive p50',
    goal: '≤ +0.05 ms',
    unit: 'added_ms',
    source: 'cluster',
    met: (x) => x <= 0.05,
  },
  {
    key: 'agent_tap_new_added_ms',
    figure: 'wiretap active: added new-connection p50',
    goal: '≤ +0.15 ms',
    unit: 'added_ms',
    source: 'cluster',
    met: (x) => x <= 0.15,
  },
  {
    key: 'agent_tap_down',
    figure: 'wiretap active: download ratio',
    goal: '≥ 0.95×',
    unit: 'ratio',
    source: 'cluster',
    met: (x) => x >= 0.95,
  },
  {
    key: 'cli_start_ms',
    figure: 'CLI start: tp version, median wall of 10',
    goal: '≤ 100 ms',
    unit: 'ms',
    source: 'cli-start',
    met: (x) => x <= 100,
  },
  {
    key: 'intercept_warm_ms',
    figure: 'warm intercept: command start → first request at the workstation',
    goal: '≤ 250 ms',
    unit: 'ms',
    source: 'cluster',
    met: (x) => x <= 250,
  },
  {
    key: 'leave_ms',
    figure: 'leave: command start → the app answers again',
    goal: '≤ 250 ms',
    unit: 'ms',
    source: 'cluster',
    met: (x) => x <= 250,
  },
];

export function formatValue(g: Goal, x: number): string {
  switch (g.unit) {
    case 'ratio':
      return `${x.toFixed(2)}×`;
    case 'added_ms':
      return `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)} ms`;
    case 'ms':
      return `${x.toFixed(0)} ms`;
    case 'mib':
      return `${x.toFixed(0)} MiB`;
    case 'pct':
      return `${x.toFixed(2)} %`;
    case 's_per_gib':
      return `${x.toFixed(2)} s`;
  }
}
