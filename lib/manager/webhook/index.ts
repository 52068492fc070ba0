// The traffic manager's agent injector (DESIGN.md §6): a mutating admission webhook that adds
// tp-agent-init and tp-agent to new pods whose template carries the agent-config annotation.
//   mutate.ts  the AdmissionReview → JSON patch decision (pure)
//   cert.ts    CA and serving certificate: make, check, rotate; caBundle upkeep (over seams)
//   k8s.ts     those seams over client-node (the Secret, the MutatingWebhookConfiguration)
//   server.ts  the HTTPS endpoint POST /mutate-pods
//   start.ts   all of it together, with the periodic re-check
export { startWebhook, runWebhook, DEFAULT_WEBHOOK_PORT, RECHECK_MS, type WebhookOptions, type RunningWebhook } from './start.js';
export { agentConfigHash, mutate, type MutateOptions, type MutateResult, type Outcome, type PatchOp } from './mutate.js';
export { MUTATE_PATH } from './server.js';
