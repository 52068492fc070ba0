// tp's Helm engine: render the embedded chart and manage its release without a helm binary.
// `tp helm install|upgrade|uninstall` (lib/cli/commands) call these.

export { HelmError, type HelmErrorCode } from './errors.js';
export { loadChart, renderChart, splitDocuments, type Chart, type KubeObject, type Manifest, type RenderOptions, type Rendered } from './chart.js';
export { coalesce, mergeMaps, parseSet, readValuesFile, userValues, type ValueOptions, type Values } from './values.js';
export {
  DEFAULT_NAMESPACE, DEFAULT_RELEASE, defaultChartDir, effectiveValues, getRelease, install, releaseHistory,
  uninstall, upgrade, type InstallOptions, type Progress, type ReleaseSummary, type UninstallOptions,
  type UninstallSummary, type UpgradeOptions,
} from './install.js';
export { kubeCluster, type Cluster } from './cluster.js';
export { decodeRelease, encodeRelease, releaseSecretName, type Release, type ReleaseStatus } from './release.js';
