// Fixed ports of servers-child.ts inside a test namespace (the namespace is the test's own).
export const PORTS = { http: 8080, sink: 7001, source: 7002, echo: 7003, udpEcho: 7004, iperf: 5201 } as const;
