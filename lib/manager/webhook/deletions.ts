// Who ended an engagement: the API server calls this endpoint (a webhook entry of the injector's
// configuration, failurePolicy Ignore) before it deletes an Engagement, with the requesting user.
// The manager only records the name for the 'ended' event its owner sees (`tp list`: "ended by
// alice-admin"); it never refuses anything here — who may delete is RBAC's and the owner policy's
// decision (helm/templates/admission-policy.yaml), which does not depend on the manager being up.
export const DELETIONS_PATH = '/engagement-deletions';

export interface DeletionNote {
  uid: string;
  by: string;
}

/** The AdmissionReview answer (always allowed) and, for a real (not dry-run) DELETE of an
 * Engagement, who deleted which object. */
export function noteDeletion(body: unknown): { ok: true; review: unknown; note?: DeletionNote } | { ok: false; error: string } {
  const review = body as { kind?: unknown; request?: Record<string, unknown> } | null;
  const req = review?.request;
  if (!review || review.kind !== 'AdmissionReview' || typeof req !== 'object' || req === null)
    return { ok: false, error: 'the body is not an AdmissionReview with a request' };
  if (typeof req.uid !== 'string' || req.uid === '') return { ok: false, error: 'the AdmissionReview request has no uid' };
  const answer = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: req.uid, allowed: true } };
  const old = req.oldObject as { kind?: unknown; metadata?: { uid?: unknown } } | undefined;
  const user = (req.userInfo as { username?: unknown } | undefined)?.username;
  if (
    req.operation !== 'DELETE' ||
    req.dryRun === true ||
    old?.kind !== 'Engagement' ||
    typeof old.metadata?.uid !== 'string' ||
    typeof user !== 'string'
  ) {
    return { ok: true, review: answer };
  }
  return { ok: true, review: answer, note: { uid: old.metadata.uid, by: user.slice(0, 253) } };
}
