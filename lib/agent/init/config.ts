// The configuration of `tp-agent-init`: which container ports of an engaged pod are redirected to
// which agent ports. Its shape and validator are the seam between the manager, the webhook and
// this init container, so they live in lib/common/agent-ports.ts (issue #17: lib/common must not
// import from a process folder); this module keeps the names the init container's code imports.
export {
  AGENT_INIT_CONFIG_ENV,
  AGENT_INIT_CONFIG_VERSION,
  parseConfig,
  validateConfig,
  type AgentInitConfig,
  type AgentPortMapping,
  type PortProtocol,
  type ValidationResult,
} from '../../common/agent-ports.js';
