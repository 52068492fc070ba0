// tp_tun: the TUN device of the root daemon, as a Node-API addon in plain C.
//
// What it does and nothing more: open /dev/net/tun for a name (IFF_TUN | IFF_NO_PI, one queue,
// O_NONBLOCK), set the link's MTU and IFF_UP with ioctls, write batches of packets, and watch the
// fd for readiness with a uv_poll_t on Node's own event loop. lib/root/tun.ts wraps it; read that
// first.
//
// Why uv_poll on the main loop rather than a reader thread: the consumer of every packet, the
// netstack, runs on the JS thread anyway, so a thread could only move the read(2) calls off it
// and would add a copy into a queue and a cross-thread wake-up (uv_async) per batch. With uv_poll
// an idle TUN costs nothing — the loop sleeps in epoll_wait — and a busy one is drained in bursts
// of up to `lengths.length` packets per wake-up straight into one slab that the JS side owns and
// reuses, with no allocation per packet. epoll is level-triggered in libuv, so stopping a burst
// early (slab or count full) just means the next loop iteration reads the rest.
//
// Offloads (open(name, { offload: true })): IFF_VNET_HDR, and TUNSETOFFLOAD with checksum, TSO4/6
// and, where the kernel has them (6.2+), USO4/6. Every read and every write then starts with a
// 10-byte struct virtio_net_hdr (little-endian, TUNSETVNETLE): the kernel hands us TCP segments
// of up to 64 KiB whose checksum it left partial (NEEDS_CSUM: nothing to verify) and takes the
// same back (nothing to compute over the payload, and one write(2) per 64 KiB whatever the MTU).
// The header is decoded and built in TypeScript (lib/proxy/netstack/wire/vnet.ts); this file only
// switches the device into that mode and reports which offloads the kernel took.
//
// Writes are vectored: a packet may be given as an array of Buffers (the headers, then a view of
// the payload where it already lies), written with one writev(2) — still one packet per call, as
// a TUN wants — so the payload is never copied into a packet buffer in JavaScript.

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <net/if.h>
#include <node_api.h>
#include <uv.h>

#ifdef __linux__
#include <fcntl.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#endif

// Newer than some distributions' <linux/if_tun.h> (Debian 12's lacks USO, added in Linux 6.2).
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif
// The size of struct virtio_net_hdr (no num_buffers: that is for mergeable receive buffers).
#define VNET_HDR_LEN 10
// Most iovecs in one vectored packet: virtio header, IP + TCP header, payload in two pieces.
#define MAX_IOV 8

// ------------------------------------------------------------------ errors

// Throws an Error like Node's system errors: message "<syscall> <detail>: <strerror>", with
// code ("EPERM"), errno (positive) and syscall, so the TS side can map codes to hints.
static napi_value throw_errno(napi_env env, int err, const char* syscall, const char* detail) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s%s%s: %s", syscall, detail ? " " : "", detail ? detail : "", strerror(err));
  napi_value code, message, error, num, sc;
  napi_create_string_utf8(env, uv_err_name(uv_translate_sys_error(err)), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, error, "syscall", sc);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char* msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

#define ARGS(n)                                                                  \
  size_t argc = (n);                                                             \
  napi_value argv[(n) > 0 ? (n) : 1];                                            \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL

static int get_i32(napi_env env, napi_value v, int32_t* out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static int get_ifname(napi_env env, napi_value v, char out[IF_NAMESIZE]) {
  size_t len = 0;
  // A name that would be truncated is an error, not a different device.
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len == 0 || len >= IF_NAMESIZE) return 0;
  return napi_get_value_string_utf8(env, v, out, IF_NAMESIZE, &len) == napi_ok;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// ------------------------------------------------------------------ device

#ifdef __linux__

// Tries the largest set of offloads first: a kernel without USO refuses the whole mask (EINVAL).
static int set_offloads(int fd) {
  static const unsigned masks[] = {
      TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6,
      TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
      TUN_F_CSUM,
  };
  for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++)
    if (ioctl(fd, TUNSETOFFLOAD, masks[i]) == 0) return (int)masks[i];
  return -1;
}

// open(name, offload) → { fd, name, offloads }. The kernel may pick the name ("tp%d"), so the real
// one is returned. offload: IFF_VNET_HDR and TUNSETOFFLOAD (see the file head); `offloads` is the
// TUN_F_* mask the kernel took (0 without offload).
static napi_value tun_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  char name[IF_NAMESIZE];
  if (argc < 1 || !get_ifname(env, argv[0], name)) return throw_type(env, "name must be 1..15 characters");
  bool offload = false;
  if (argc >= 2 && napi_get_value_bool(env, argv[1], &offload) != napi_ok) return throw_type(env, "offload must be a boolean");
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return throw_errno(env, errno, "open", "/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  // No IFF_MULTI_QUEUE: one reader is all the JS thread can use, and a second open of the same
  // name then fails with EBUSY instead of silently sharing the device with another daemon.
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, IF_NAMESIZE);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "ioctl", "TUNSETIFF");
  }
  int offloads = 0;
  if (offload) {
    int sz = VNET_HDR_LEN, le = 1;
    const char* which = NULL;
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) which = "TUNSETVNETHDRSZ";
    // Little-endian headers whatever the CPU; on a little-endian one they are anyway, so only a
    // big-endian CPU needs the ioctl to work.
    else if (ioctl(fd, TUNSETVNETLE, &le) < 0 && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__) which = "TUNSETVNETLE";
    else if ((offloads = set_offloads(fd)) < 0) which = "TUNSETOFFLOAD";
    if (which) {
      int err = errno;
      close(fd);
      return throw_errno(env, err, "ioctl", which);
    }
  }
  napi_value obj, vfd, vname, voff;
  napi_create_object(env, &obj);
  napi_create_int32(env, fd, &vfd);
  napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IF_NAMESIZE), &vname);
  napi_create_int32(env, offloads, &voff);
  napi_set_named_property(env, obj, "fd", vfd);
  napi_set_named_property(env, obj, "name", vname);
  napi_set_named_property(env, obj, "offloads", voff);
  return obj;
}

static int ctl_socket(void) {
  return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

// setMtu(name, mtu)
static napi_value tun_set_mtu(napi_env env, napi_callback_info info) {
  ARGS(2);
  char name[IF_NAMESIZE];
  int32_t mtu;
  if (argc < 2 || !get_ifname(env, argv[0], name) || !get_i32(env, argv[1], &mtu)) return throw_type(env, "setMtu(name, mtu)");
  int s = ctl_socket();
  if (s < 0) return throw_errno(env, errno, "socket", NULL);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, IF_NAMESIZE);
  ifr.ifr_mtu = mtu;
  int rc = ioctl(s, SIOCSIFMTU, &ifr);
  int err = errno;
  close(s);
  if (rc < 0) return throw_errno(env, err, "ioctl", "SIOCSIFMTU");
  return undefined(env);
}

// setTxQueueLen(name, n): the TUN's queue towards the reader. Its default, 500, drops a burst
// of new connections' SYNs (the kernel retries each after 1 s) long before the reader falls
// behind for real.
static napi_value tun_set_txqlen(napi_env env, napi_callback_info info) {
  ARGS(2);
  char name[IF_NAMESIZE];
  int32_t n;
  if (argc < 2 || !get_ifname(env, argv[0], name) || !get_i32(env, argv[1], &n) || n < 1) return throw_type(env, "setTxQueueLen(name, n)");
  int s = ctl_socket();
  if (s < 0) return throw_errno(env, errno, "socket", NULL);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, IF_NAMESIZE);
  ifr.ifr_qlen = n;
  int rc = ioctl(s, SIOCSIFTXQLEN, &ifr);
  int err = errno;
  close(s);
  if (rc < 0) return throw_errno(env, err, "ioctl", "SIOCSIFTXQLEN");
  return undefined(env);
}

// setUp(name, up)
static napi_value tun_set_up(napi_env env, napi_callback_info info) {
  ARGS(2);
  char name[IF_NAMESIZE];
  bool up = true;
  if (argc < 2 || !get_ifname(env, argv[0], name) || napi_get_value_bool(env, argv[1], &up) != napi_ok) return throw_type(env, "setUp(name, up)");
  int s = ctl_socket();
  if (s < 0) return throw_errno(env, errno, "socket", NULL);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, IF_NAMESIZE);
  int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
  const char* which = "SIOCGIFFLAGS";
  if (rc == 0) {
    if (up) ifr.ifr_flags |= IFF_UP;
    else ifr.ifr_flags &= ~IFF_UP;
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    which = "SIOCSIFFLAGS";
  }
  int err = errno;
  close(s);
  if (rc < 0) return throw_errno(env, err, "ioctl", which);
  return undefined(env);
}

#else  // not Linux: the package installs, VIF mode says why it can't run.

static napi_value tun_open(napi_env env, napi_callback_info info) { return throw_errno(env, ENOSYS, "open", "/dev/net/tun"); }
static napi_value tun_set_mtu(napi_env env, napi_callback_info info) { return throw_errno(env, ENOSYS, "ioctl", "SIOCSIFMTU"); }
static napi_value tun_set_up(napi_env env, napi_callback_info info) { return throw_errno(env, ENOSYS, "ioctl", "SIOCSIFFLAGS"); }
static napi_value tun_set_txqlen(napi_env env, napi_callback_info info) { return throw_errno(env, ENOSYS, "ioctl", "SIOCSIFTXQLEN"); }

#endif

// close(fd)
static napi_value tun_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (argc < 1 || !get_i32(env, argv[0], &fd)) return throw_type(env, "close(fd)");
  // Linux releases the fd even when close() reports EINTR; retrying could close someone else's.
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close", NULL);
  return undefined(env);
}

// write(fd, packets, start, counters) → index of the first packet not written.
// One write(2) per packet (a TUN takes exactly one packet per write); a packet given as an array
// of Buffers is gathered by one writev(2). Stops at EAGAIN and returns that packet's index so the
// caller can queue the rest and wait for writability. A packet the kernel rejects (EINVAL for a
// malformed header, EIO while the link is down, ...) is dropped and counted in counters[0] (errno
// of the last one in counters[1]) — like a lost packet on a wire, one bad packet must not stall
// the batch behind it. Only a dead fd throws.
static napi_value tun_write(napi_env env, napi_callback_info info) {
  ARGS(4);
  int32_t fd, start;
  bool is_array = false;
  if (argc < 4 || !get_i32(env, argv[0], &fd) || napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
      !get_i32(env, argv[2], &start) || start < 0)
    return throw_type(env, "write(fd, packets[], start, counters)");
  double* counters = NULL;
  size_t ncounters = 0;
  {
    napi_typedarray_type type;
    void* data;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(env, argv[3], &type, &ncounters, &data, &ab, &off) != napi_ok || type != napi_float64_array || ncounters < 2)
      return throw_type(env, "counters must be a Float64Array(2)");
    counters = (double*)data;
  }
  uint32_t n = 0;
  napi_get_array_length(env, argv[1], &n);
  uint32_t i = (uint32_t)start;
  struct iovec iov[MAX_IOV];
  for (; i < n; i++) {
    napi_value el;
    int niov = 0;
    bool parts = false;
    if (napi_get_element(env, argv[1], i, &el) != napi_ok || napi_is_array(env, el, &parts) != napi_ok)
      return throw_type(env, "packets must be Buffers or arrays of Buffers");
    if (!parts) {
      if (napi_get_buffer_info(env, el, &iov[0].iov_base, &iov[0].iov_len) != napi_ok) return throw_type(env, "packets must be Buffers");
      niov = 1;
    } else {
      uint32_t k = 0;
      napi_get_array_length(env, el, &k);
      if (k < 1 || k > MAX_IOV) return throw_type(env, "a packet has 1..8 parts");
      for (uint32_t j = 0; j < k; j++) {
        napi_value part;
        if (napi_get_element(env, el, j, &part) != napi_ok || napi_get_buffer_info(env, part, &iov[j].iov_base, &iov[j].iov_len) != napi_ok)
          return throw_type(env, "a packet's parts must be Buffers");
      }
      niov = (int)k;
    }
    for (;;) {
      ssize_t r = niov == 1 ? write(fd, iov[0].iov_base, iov[0].iov_len) : writev(fd, iov, niov);
      if (r >= 0) break;
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) goto out;
#ifdef EBADFD
      if (err == EBADFD) return throw_errno(env, err, "write", "tun");
#endif
      if (err == EBADF) return throw_errno(env, err, "write", "tun");
      counters[0] += 1;
      counters[1] = err;
      break;
    }
  }
out:;
  napi_value ret;
  napi_create_uint32(env, i, &ret);
  return ret;
}

// ------------------------------------------------------------------ readiness

typedef struct {
  uv_poll_t handle;  // first member: the uv_poll_t* is the poller_t*
  napi_env env;
  int fd;
  int events;   // what we ask libuv to watch now
  int closing;
  uint8_t* slab;
  size_t slab_len;
  size_t max_packet;
  uint32_t* lengths;
  size_t max_count;
  napi_ref slab_ref, lengths_ref, on_read_ref, on_writable_ref;
  napi_async_context async;
} poller_t;

static void call_js(poller_t* p, napi_ref ref, size_t argc, napi_value* argv) {
  napi_env env = p->env;
  napi_value fn, global, result;
  napi_get_reference_value(env, ref, &fn);
  napi_get_global(env, &global);
  // napi_make_callback, not napi_call_function: we are called from libuv, outside any JS frame,
  // so Node must drain process.nextTick and the microtask queue afterwards (the netstack
  // schedules its flushes and the dialer's promises settle there).
  napi_status s = napi_make_callback(env, p->async, global, fn, argc, argv, &result);
  if (s == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);  // → process 'uncaughtException', as for any callback
  }
}

static void on_poll(uv_poll_t* h, int status, int events);

static void restart(poller_t* p) {
  if (p->closing) return;
  if (p->events) uv_poll_start(&p->handle, p->events, on_poll);
  else uv_poll_stop(&p->handle);
}

static void call_read(poller_t* p, int64_t value) {
  napi_value arg;
  napi_create_int64(p->env, value, &arg);
  call_js(p, p->on_read_ref, 1, &arg);
}

static void read_burst(poller_t* p) {
  size_t off = 0;
  uint32_t n = 0;
  int err = 0;
  while (n < p->max_count && p->slab_len - off >= p->max_packet) {
    ssize_t r = read(p->fd, p->slab + off, p->max_packet);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    if (r == 0) break;
    p->lengths[n++] = (uint32_t)r;
    off += (size_t)r;
  }
  if (n > 0) call_read(p, n);
  if (err && !p->closing) {
    // A persistent error (EBADFD after the device went away) would wake us forever: stop
    // reading and let the JS side decide.
    p->events &= ~UV_READABLE;
    restart(p);
    call_read(p, -(int64_t)err);
  }
}

static void on_poll(uv_poll_t* h, int status, int events) {
  poller_t* p = (poller_t*)h;
  if (p->closing) return;
  napi_handle_scope scope;
  napi_open_handle_scope(p->env, &scope);
  if (status < 0) {
    p->events = 0;
    restart(p);
    call_read(p, status);  // a libuv error is -errno on Unix
  } else {
    if ((events & UV_WRITABLE) && (p->events & UV_WRITABLE)) {
      // One-shot: a TUN is nearly always writable, watching it would spin the loop.
      p->events &= ~UV_WRITABLE;
      restart(p);
      call_js(p, p->on_writable_ref, 0, NULL);
    }
    if (!p->closing && (events & UV_READABLE) && (p->events & UV_READABLE)) read_burst(p);
  }
  napi_close_handle_scope(p->env, scope);
}

static void on_closed(uv_handle_t* h) {
  poller_t* p = (poller_t*)h;
  napi_env env = p->env;
  napi_delete_reference(env, p->slab_ref);
  napi_delete_reference(env, p->lengths_ref);
  napi_delete_reference(env, p->on_read_ref);
  napi_delete_reference(env, p->on_writable_ref);
  napi_async_destroy(env, p->async);
  free(p);
}

static void on_closed_at_exit(uv_handle_t* h) {
  free(h);  // the environment is going away: its references with it
}

static void env_cleanup(void* arg) {
  poller_t* p = (poller_t*)arg;
  if (p->closing) return;
  p->closing = 1;
  uv_poll_stop(&p->handle);
  uv_close((uv_handle_t*)&p->handle, on_closed_at_exit);
}

static poller_t* get_poller(napi_env env, napi_value v) {
  void* data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return (poller_t*)data;
}

// poll(fd, slab: Buffer, lengths: Uint32Array, maxPacket, onRead(n), onWritable()) → handle
// onRead(n > 0): packets 0..n-1 are in slab back to back, lengths[i] bytes each; valid until
// onRead returns. onRead(n < 0): read failed with errno -n, reading has stopped.
// The handle starts watching for readability; see pollSet.
static napi_value tun_poll(napi_env env, napi_callback_info info) {
  ARGS(6);
  int32_t fd, max_packet;
  if (argc < 6 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[3], &max_packet) || max_packet < 1)
    return throw_type(env, "poll(fd, slab, lengths, maxPacket, onRead, onWritable)");
  void* slab;
  size_t slab_len;
  if (napi_get_buffer_info(env, argv[1], &slab, &slab_len) != napi_ok || slab_len < (size_t)max_packet)
    return throw_type(env, "slab must be a Buffer of at least maxPacket bytes");
  napi_typedarray_type type;
  size_t count;
  void* lengths;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, argv[2], &type, &count, &lengths, &ab, &off) != napi_ok || type != napi_uint32_array || count < 1)
    return throw_type(env, "lengths must be a non-empty Uint32Array");
  napi_valuetype t4, t5;
  napi_typeof(env, argv[4], &t4);
  napi_typeof(env, argv[5], &t5);
  if (t4 != napi_function || t5 != napi_function) return throw_type(env, "onRead and onWritable must be functions");

  poller_t* p = calloc(1, sizeof *p);
  if (!p) return throw_errno(env, ENOMEM, "calloc", NULL);
  uv_loop_t* loop;
  napi_get_uv_event_loop(env, &loop);
  int rc = uv_poll_init(loop, &p->handle, fd);
  if (rc < 0) {
    free(p);
    return throw_errno(env, -rc, "uv_poll_init", NULL);
  }
  p->env = env;
  p->fd = fd;
  p->slab = slab;
  p->slab_len = slab_len;
  p->max_packet = (size_t)max_packet;
  p->lengths = lengths;
  p->max_count = count;
  napi_create_reference(env, argv[1], 1, &p->slab_ref);
  napi_create_reference(env, argv[2], 1, &p->lengths_ref);
  napi_create_reference(env, argv[4], 1, &p->on_read_ref);
  napi_create_reference(env, argv[5], 1, &p->on_writable_ref);
  napi_value name;
  napi_create_string_utf8(env, "tp:tun", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &p->async);
  napi_add_env_cleanup_hook(env, env_cleanup, p);
  p->events = UV_READABLE;
  restart(p);
  napi_value ext;
  napi_create_external(env, p, NULL, NULL, &ext);
  return ext;
}

// pollSet(handle, readable, writable). Writable is one-shot: onWritable fires once, then the
// handle goes back to watching only what `readable` says.
static napi_value tun_poll_set(napi_env env, napi_callback_info info) {
  ARGS(3);
  poller_t* p = argc >= 3 ? get_poller(env, argv[0]) : NULL;
  bool r = false, w = false;
  if (!p || napi_get_value_bool(env, argv[1], &r) != napi_ok || napi_get_value_bool(env, argv[2], &w) != napi_ok)
    return throw_type(env, "pollSet(handle, readable, writable)");
  if (p->closing) return undefined(env);
  p->events = (r ? UV_READABLE : 0) | (w ? UV_WRITABLE : 0);
  restart(p);
  return undefined(env);
}

// pollSetSlab(handle, slab): later bursts are read into `slab` (at least maxPacket bytes), the
// previous one is let go. For a reader that keeps views of a burst past onRead (lib/root/tun.ts
// lends them to the tunnel instead of copying): the next burst must not overwrite them.
static napi_value tun_poll_set_slab(napi_env env, napi_callback_info info) {
  ARGS(2);
  poller_t* p = argc >= 2 ? get_poller(env, argv[0]) : NULL;
  void* slab;
  size_t slab_len;
  if (!p || napi_get_buffer_info(env, argv[1], &slab, &slab_len) != napi_ok) return throw_type(env, "pollSetSlab(handle, slab)");
  if (slab_len < p->max_packet) return throw_type(env, "slab must be a Buffer of at least maxPacket bytes");
  if (p->closing) return undefined(env);
  napi_ref ref;
  if (napi_create_reference(env, argv[1], 1, &ref) != napi_ok) return throw_type(env, "slab must be a Buffer");
  napi_delete_reference(env, p->slab_ref);
  p->slab_ref = ref;
  p->slab = slab;
  p->slab_len = slab_len;
  return undefined(env);
}

// pollRef(handle, ref): whether a watching handle keeps the process alive.
static napi_value tun_poll_ref(napi_env env, napi_callback_info info) {
  ARGS(2);
  poller_t* p = argc >= 2 ? get_poller(env, argv[0]) : NULL;
  bool ref = true;
  if (!p || napi_get_value_bool(env, argv[1], &ref) != napi_ok) return throw_type(env, "pollRef(handle, ref)");
  if (p->closing) return undefined(env);
  if (ref) uv_ref((uv_handle_t*)&p->handle);
  else uv_unref((uv_handle_t*)&p->handle);
  return undefined(env);
}

// pollClose(handle): stops watching at once (the fd may be closed right after); the memory and
// the references go when libuv has closed the handle. Safe to call from inside onRead.
static napi_value tun_poll_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  poller_t* p = argc >= 1 ? get_poller(env, argv[0]) : NULL;
  if (!p) return throw_type(env, "pollClose(handle)");
  if (p->closing) return undefined(env);
  p->closing = 1;
  uv_poll_stop(&p->handle);
  napi_remove_env_cleanup_hook(env, env_cleanup, p);
  uv_close((uv_handle_t*)&p->handle, on_closed);
  return undefined(env);
}

// ------------------------------------------------------------------ module

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setMtu", NULL, tun_set_mtu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setUp", NULL, tun_set_up, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setTxQueueLen", NULL, tun_set_txqlen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, tun_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"write", NULL, tun_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"poll", NULL, tun_poll, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollSet", NULL, tun_poll_set, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollRef", NULL, tun_poll_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollSetSlab", NULL, tun_poll_set_slab, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollClose", NULL, tun_poll_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
