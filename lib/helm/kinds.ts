// Helm 3's install order by kind (pkg/releaseutil's list, as a fact about Helm's behaviour):
// what others depend on goes first. Unknown kinds go last, alphabetically. Uninstall reverses it.

const INSTALL_ORDER = [
  'PriorityClass', 'Namespace', 'NetworkPolicy', 'ResourceQuota', 'LimitRange', 'PodSecurityPolicy',
  'PodDisruptionBudget', 'ServiceAccount', 'Secret', 'SecretList', 'ConfigMap', 'StorageClass',
  'PersistentVolume', 'PersistentVolumeClaim', 'CustomResourceDefinition', 'ClusterRole',
  'ClusterRoleList', 'ClusterRoleBinding', 'ClusterRoleBindingList', 'Role', 'RoleList',
  'RoleBinding', 'RoleBindingList', 'Service', 'DaemonSet', 'Pod', 'ReplicationController',
  'ReplicaSet', 'Deployment', 'HorizontalPodAutoscaler', 'StatefulSet', 'Job', 'CronJob',
  'IngressClass', 'Ingress', 'APIService',
];
const RANK = new Map(INSTALL_ORDER.map((k, i) => [k, i]));

/** Stable sort by install order, as Helm's sort.SliceStable does. */
export function sortByInstallOrder<T>(items: T[], kindOf: (t: T) => string): T[] {
  return items
    .map((item, i) => ({ item, i, kind: kindOf(item) }))
    .sort((a, b) => {
      const ra = RANK.get(a.kind);
      const rb = RANK.get(b.kind);
      if (ra === undefined && rb === undefined) {
        return a.kind === b.kind ? a.i - b.i : a.kind < b.kind ? -1 : 1;
      }
      if (ra === undefined) return 1;
      if (rb === undefined) return -1;
      return ra - rb || a.i - b.i;
    })
    .map((x) => x.item);
}

/** Kinds that have no namespace; everything else a chart renders gets the release namespace. */
export const CLUSTER_SCOPED = new Set([
  'Namespace', 'Node', 'PersistentVolume', 'StorageClass', 'PriorityClass', 'ClusterRole',
  'ClusterRoleBinding', 'CustomResourceDefinition', 'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration', 'APIService', 'IngressClass', 'ServiceCIDR', 'RuntimeClass',
  'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding',
]);
