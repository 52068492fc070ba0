// Budgets of every server socket tp runs outside the traffic manager's tunnel (issue #12;
// DESIGN.md §3 "Budgets everywhere"). One place, so that SECURITY.md can list them and a reviewer
// can see what a hostile peer can hold: each value says how long, how much or how many, and why
// that number. Servers take these as defaults; the ones a user may need to change are options of
// the server (named in the comment) so a config file can set them.
//
// Words used below: a *head* budget bounds the time to receive a request head; an *idle* budget
// bounds the time without a byte in either direction; a *total* budget bounds a connection's life.

const KiB = 1024;
const MiB = 1024 * KiB;

// ---- HTTP/1.1 heads: agent router, HTTP proxy, daemon sockets, health port -----------------

/** Request headers must arrive within this, counted from the first byte of the head (from the
 * accept for a connection's first request). A real client sends its head in one segment; only a
 * peer that holds the connection open on purpose (slowloris) takes longer. Issue #12 asks 30 s;
 * nginx's client_header_timeout and Node's headersTimeout are 60 s. */
export const HTTP_HEAD_TIMEOUT_MS = 30_000;

/** Start line, fields and final CRLF of one head (larger → 431). Go servers accept 1 MiB and
 * Node 16 KiB; apps behind the agent may be either, so the agent sits between, and a connection
 * costs at most this much memory while its head is incomplete. */
export const HTTP_MAX_HEAD_BYTES = 64 * KiB;
/** Request line (longer → 414): long query strings exist; 8 KiB is what nginx and Apache allow. */
export const HTTP_MAX_START_LINE_BYTES = 8 * KiB;
/** Field lines per head or trailer section (more → 431): browsers send ~20; Apache allows 100. */
export const HTTP_MAX_FIELDS = 128;
/** One chunk-size line with its extensions (longer → 400): sizes are ≤ 16 hex digits and nobody
 * uses extensions; this only stops a peer streaming an endless extension. */
export const HTTP_MAX_CHUNK_LINE_BYTES = 4 * KiB;

// ---- the traffic agent's router (lib/agent/http/router.ts, listeners in forwarder.ts) ---------

/** Between two requests on a kept-alive client connection, no byte for this long closes it.
 * Longer than the 600 s idle timeout of the cloud load balancers that keep connections to pods
 * (GCP asks backends for > 600 s): the balancer, not the agent, should close an idle connection,
 * or a request it sends as the agent closes becomes a 502. Option `keepAliveTimeoutMs`. */
export const AGENT_KEEPALIVE_IDLE_MS = 620_000;

/** While a request or its response is in progress, no byte in either direction for this long
 * ends the exchange (408 if the client stalled its body, 504 if the destination never answered).
 * Stops a slow-POST peer; long polls under 5 min pass. Envoy's stream_idle_timeout, which an
 * Istio sidecar in the same place applies, is the same 5 min. Option `exchangeIdleTimeoutMs`. */
export const AGENT_EXCHANGE_IDLE_MS = 300_000;

/** A connection that is opaque to the agent (not HTTP, switched by a 101, or spliced whole to an
 * unfiltered intercept) with no byte either way for this long is closed. Envoy's tcp_proxy
 * default idle timeout, so a mesh sidecar would cut the same connection at the same time; a pool
 * of database connections idle for longer needs the option `tunnelIdleTimeoutMs`. */
export const AGENT_TUNNEL_IDLE_MS = 3_600_000;

/** Bytes held in incomplete request heads, all connections of one port together. Above it the
 * connection whose head has been incomplete longest is closed (408): real heads complete in
 * milliseconds, so the ones pushed out are those a peer is holding open, and a sidecar's memory
 * stays bounded whatever the number of connections. */
export const AGENT_PENDING_HEAD_BYTES = 16 * MiB;

/** A wiretap copy of a request starts only while the tap's unsent bytes are at most this
 * (otherwise the copy is dropped and counted): a stuck workstation never slows the app's traffic. */
export const AGENT_TAP_SOFT_BYTES = 256 * KiB;
/** A copy that would leave more than this unsent aborts that tap connection (a truncated copy
 * must not look complete), so a tap costs at most this much memory per client connection. */
export const AGENT_TAP_HARD_BYTES = 1 * MiB;
/** After a tap failed or was aborted, its copies are dropped for this long before a new stream. */
export const AGENT_TAP_RETRY_MS = 1_000;

/** After the agent answered and closed (a 400, 408, 502), the client's remaining bytes are read
 * and dropped for this long: closing with unread bytes sends an RST that can overtake the answer. */
export const AGENT_LINGER_MS = 2_000;

// ---- HTTP/2 in the agent (lib/agent/http/h2*.ts, issue #13) -------------------------------------

/** Streams a client may have open at once on one HTTP/2 connection to the agent (its
 * SETTINGS_MAX_CONCURRENT_STREAMS). 100 is what most servers advertise (RFC 9113 §6.5.2 asks
 * for at least 100); with the window below it bounds what one connection can make the agent hold. */
export const AGENT_H2_MAX_STREAMS = 100;
/** Per-stream receive window the agent advertises, to clients and to the app and workstations
 * (SETTINGS_INITIAL_WINDOW_SIZE). A stream whose destination does not read holds at most this in
 * the agent, so a stalled workstation costs ≤ streams × window and never stalls other streams. */
export const AGENT_H2_STREAM_WINDOW = 256 * KiB;
/** Connection-level receive window (WINDOW_UPDATE on stream 0): large, so that many streams move
 * at once; Node returns connection credit as soon as bytes arrive (the stream window holds them). */
export const AGENT_H2_SESSION_WINDOW = 4 * MiB;
/** An upstream HTTP/2 session (to the app, a workstation or a wiretap) must send its SETTINGS
 * within this, or the streams waiting for it fail (UNAVAILABLE) instead of hanging: Telepresence
 * 4055/4056 were streams that waited forever on an upstream that never spoke HTTP/2. */
export const AGENT_H2_CONNECT_MS = 10_000;
/** An upstream session with open streams is PINGed this often ... */
export const AGENT_H2_PING_INTERVAL_MS = 30_000;
/** ... and closed (its streams reset, so clients see UNAVAILABLE) when the ACK takes longer: a
 * tunnel to a workstation that went away without a FIN must not hold streams for hours. */
export const AGENT_H2_PING_TIMEOUT_MS = 20_000;
/** After an upstream session could not be opened, streams for it fail at once for this long
 * (clients retry with their own backoff) instead of each starting another dial. */
export const AGENT_H2_REOPEN_BACKOFF_MS = 1_000;
/** An `Upgrade: h2c` request (RFC 7540 §3.2) is upgraded only if its head fits one HEADERS frame
 * (the 16 KiB SETTINGS_MAX_FRAME_SIZE every peer accepts before SETTINGS) and it has no body;
 * otherwise it is served as HTTP/1.1 (a server may ignore Upgrade). */
export const AGENT_H2C_MAX_HEADERS_BLOCK = 16 * KiB;

// ---- HTTP filters (lib/common/rpc/engagement.ts, lib/agent/http/filter.ts) --------------------

/** `--http-header K=~REGEX`: the pattern's length. Patterns run on V8's linear-time engine, so
 * the cost of a match is O(pattern × value); these two bound it per request and filter. */
export const HTTP_FILTER_MAX_PATTERN = 256;
/** A header value longer than this never matches a pattern (exact values have no such limit). */
export const HTTP_FILTER_MAX_PATTERN_INPUT = 4 * KiB;

/** The kubelet's probe port (always to the app): no byte for this long closes a probe
 * connection. Probes answer within their timeoutSeconds (default 1 s); 2 min covers any setting
 * seen in practice. */
export const AGENT_PROBE_IDLE_MS = 120_000;
/** ... and no probe connection lives longer than this. */
export const AGENT_PROBE_TOTAL_MS = 600_000;

// ---- the SOCKS5 / HTTP proxy of `tp connect --socks` (lib/proxy/socks) ------------------------

/** A SOCKS5 greeting, authentication and request must be complete within this (option
 * `handshakeTimeoutMs`). Clients send all three in the first round trips. */
export const SOCKS_HANDSHAKE_MS = 10_000;
/** Connections still in their SOCKS handshake or HTTP request head at once; more are closed at
 * accept. Each costs a socket and ≤ 1 KiB (SOCKS) or ≤ HTTP_PROXY_MAX_HEADER_BYTES (HTTP); a
 * browser opens a few dozen at a time. Option `maxHandshakes`. */
export const PROXY_MAX_HANDSHAKES = 512;
/** Unparsed SOCKS handshake bytes held per connection: the largest message (username/password)
 * is 513 bytes; more unparsed means the peer is not speaking SOCKS5. */
export const SOCKS_MAX_HANDSHAKE_BYTES = 1 * KiB;
/** Destinations per SOCKS5 UDP association (option `maxUdpFlows`): each is a tunnel flow. */
export const SOCKS_MAX_UDP_FLOWS = 256;
/** Datagrams held per UDP destination while its flow is dialed; later ones are dropped (UDP may
 * lose them, and a queue here would only grow under a flood). */
export const SOCKS_UDP_PENDING_PER_FLOW = 16;
/** Idle time between requests on an HTTP proxy connection (then the request head budget,
 * HTTP_HEAD_TIMEOUT_MS, runs from the first byte). Curl and browsers reuse within seconds. */
export const HTTP_PROXY_KEEPALIVE_MS = 30_000;
/** Node's default (16 KiB) made explicit: a proxy request head is a URL and a few fields. */
export const HTTP_PROXY_MAX_HEADER_BYTES = 16 * KiB;

// ---- the traffic manager's agent port: protocol sniffing and health (lib/manager/port-mux.ts) -

/** The first bytes (enough to tell HTTP/2 from HTTP/1) must arrive within this. */
export const PORT_MUX_SNIFF_MS = 10_000;
/** A health connection (the kubelet's HTTP/1.1 probe, one request, no keep-alive) lives at most
 * this long, head, idle time and answer included: a probe that has not been answered by then has
 * failed anyway (its timeoutSeconds defaults to 1). */
export const HEALTH_CONNECTION_TOTAL_MS = HTTP_HEAD_TIMEOUT_MS;

// ---- the user and root daemons' unix sockets (lib/common/rpc/unix-http.ts) --------------------

/** The whole request (head and JSON body ≤ DAEMON_MAX_BODY_BYTES) must arrive within this; the
 * answer may take as long as the call does (connect waits for the cluster). */
export const DAEMON_REQUEST_MS = HTTP_HEAD_TIMEOUT_MS;
/** Idle keep-alive between calls: the CLI makes one call per connection. Node's default. */
export const DAEMON_KEEPALIVE_MS = 5_000;
/** Calls at once. The socket is the user's own (mode 0600), so this only stops a runaway loop of
 * the user's own programs from exhausting the daemon's file descriptors. */
export const DAEMON_MAX_CONNECTIONS = 64;
/** A call's JSON body. */
export const DAEMON_MAX_BODY_BYTES = 64 * KiB;
/** A call's head: a path and three fields. */
export const DAEMON_MAX_HEADER_BYTES = 8 * KiB;
/** How often Node checks the head and request budgets of a listening http.Server (its default is
 * 30 s, which would let a 30 s budget run to 60 s). */
export const HTTP_BUDGET_CHECK_MS = 1_000;

// ---- the root daemon's DNS server (lib/root/dns/server.ts) -----------------------------------

/** RFC 7766 §6.2.3: close idle TCP connections after seconds, not minutes. */
export const DNS_TCP_IDLE_MS = 10_000;
/** A TCP message whose length prefix has arrived must be complete within this; otherwise a peer
 * can keep a connection by trickling one byte per idle period. */
export const DNS_TCP_MESSAGE_MS = 5_000;
/** TCP connections at once. At the cap, the connection idle longest is closed to admit the new
 * one (RFC 7766 §6.2.3 lets a server close idle connections under pressure), so idle peers never
 * lock others out; only when all are busy is the new one refused. */
export const DNS_TCP_MAX_CONNECTIONS = 128;
/** TCP connections from one client address. Stub resolvers open one per retried query. */
export const DNS_TCP_MAX_PER_CLIENT = 16;
/** Answers pending on one TCP connection before we stop reading it (backpressure). */
export const DNS_TCP_PIPELINE = 32;
/** Queries being answered at once, UDP and TCP together; more are dropped (the asker retries).
 * Option `maxInFlight`. */
export const DNS_MAX_IN_FLIGHT = 1_024;
/** Query budget per client address (token bucket): this many per second sustained ... The whole
 * workstation's lookups may come from one address (systemd-resolved's stub forwards them all), so
 * it is far above what programs do, and far below what stalls the manager. Option `queryRate`. */
export const DNS_QUERY_RATE = 500;
/** ... with bursts up to this (a browser opening a page resolves dozens of names at once).
 * Option `queryBurst`. Over budget: REFUSED, answered from the header alone. */
export const DNS_QUERY_BURST = 1_000;
/** Client addresses whose budget is remembered; the least recently seen is forgotten beyond. */
export const DNS_CLIENTS_TRACKED = 4_096;
/** Records in the answer, authority and additional sections of a query. A stub query carries
 * none or one OPT (plus a TSIG or a cookie at most); more is a message built to make us parse. */
export const DNS_MAX_QUERY_RECORDS = 8;
