// Errors of the chart engine: TpErrors (lib/common/errors.ts) with a stable code, one sentence,
// and a hint, so `tp helm …` can print them without knowing this module.

import { TpError } from '../common/errors.js';

export type HelmErrorCode =
  | 'E_HELM_TEMPLATE_PARSE'     // the chart's template text is not valid template syntax
  | 'E_HELM_TEMPLATE_EXEC'      // a template failed while rendering (bad value, `required`, …)
  | 'E_HELM_CHART'              // Chart.yaml / values.yaml missing or malformed
  | 'E_HELM_VALUES'             // a --set / -f value the user gave is malformed
  | 'E_HELM_MANIFEST'           // rendered output is not valid Kubernetes YAML
  | 'E_HELM_RELEASE_EXISTS'     // install over an existing release
  | 'E_HELM_NO_RELEASE'         // upgrade / uninstall without a release
  | 'E_HELM_RELEASE_RECORD'     // a stored release Secret cannot be decoded
  | 'E_HELM_TIMEOUT'            // the Deployment did not become Available in time
  | 'E_HELM_IMAGE_PULL'         // the manager's image cannot be pulled (ErrImagePull, ImagePullBackOff)
  | 'E_HELM_MANAGER_CRASH'      // the manager's container is in CrashLoopBackOff
  | 'E_HELM_UNSCHEDULABLE'      // no node can take the manager's pod
  | 'E_HELM_CLUSTER';           // an API call failed

export class HelmError extends TpError {
  declare readonly code: HelmErrorCode;
  constructor(
    code: HelmErrorCode,
    message: string,
    readonly opts: { hint?: string; cause?: unknown } = {},
  ) {
    super(code, message, opts);
    this.name = 'HelmError';
  }
}

/** Where in a template a problem is: Go prints `template: NAME:LINE:` and so do we. */
export interface Pos {
  file: string;
  line: number;
}

export const templateError = (code: 'E_HELM_TEMPLATE_PARSE' | 'E_HELM_TEMPLATE_EXEC', pos: Pos,
  msg: string, cause?: unknown): HelmError =>
  new HelmError(code, `template: ${pos.file}:${pos.line}: ${msg}`, cause === undefined ? {} : { cause });
