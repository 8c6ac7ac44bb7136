// typedns native UDP: one socket read with recvmmsg and answered with sendmmsg, up to BATCH
// datagrams per system call, and one call into JavaScript per batch (instead of one recvmsg, one
// sendmsg, a Buffer, an rinfo object and an event per datagram with node:dgram).
//
// The JavaScript side (src/server/udp-native.ts) owns four ArrayBuffers:
//   in        BATCH slots of SLOT bytes: the datagrams of the current batch
//   inMeta    Int32 × META per datagram: at M_LEN the length (-1: larger than SLOT), M_PORT the
//             port, M_FAMILY 4|6, M_ADDR the address (v4: one host-order word; v6: four
//             network-order words, read as bytes)
//   out       reply bytes written by JavaScript during the batch
//   outMeta   Int32 × OUT_META per reply: at O_INDEX the datagram index (its sender gets the
//             reply), O_OFFSET the offset in out, O_LENGTH the length
// The module exports these numbers as `layout`; udp-native.ts reads them once.
// onBatch(count) serves the datagrams and returns how many replies it put in out/outMeta; they
// go out with sendmmsg to the senders' addresses as received. Replies written later (after an
// await) are queued by JavaScript and go out together with sendMany() once per turn of the event
// loop (sendTo() sends one on its own).
//
// drain() reads and serves a listener's waiting datagrams the same way, called from JavaScript:
// a stream path (TCP queries, forwarded replies) that has run for a while lets UDP in before it
// goes on, instead of UDP waiting for the end of the event loop's turn.
//
// Client sockets (connectTo, for forward's upstreams): connected to one address from a random
// port, read with recvmmsg into an area several of them share (handed over with onBatch(n) per
// batch; a socket error as onBatch(-errno)), written with sendMany() (one sendmmsg per turn).
//
// Shared memory (the kubernetes plugin's copy of the cluster for every worker of -workers N,
// plugins/kubernetes/bytes.ts): shmCreate(size) makes a memfd of `size` bytes and maps it shared
// and writable, as an external ArrayBuffer (unmapped when it is collected), and returns its fd,
// which other processes of the same user open as /proc/<pid>/fd/<fd>; shmOpen(path) maps such a
// file read-only (its whole size, from fstat) and closes the fd; shmClose(fd) closes the
// creator's fd (mappings stay valid). V8 counts an external ArrayBuffer's length in its external
// memory (process.memoryUsage().external, and the GC's external pressure) from its creation
// until it is collected: a mapping is reported whole without napi_adjust_external_memory
// (plugins/kubernetes/shared.test.ts checks it).
//
// Built by scripts/build-native.mjs with the C compiler and the headers of the running Node.js;
// when it is missing the server uses node:dgram (same behaviour, more CPU per query).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define BATCH 64
#define SLOT 4096
#define META 8
#define OUT_META 3
/* Int32 word offsets inside one datagram's META words and one reply's OUT_META words. */
#define M_LEN 0
#define M_PORT 1
#define M_FAMILY 2
#define M_ZERO 3
#define M_ADDR 4
#define O_INDEX 0
#define O_OFFSET 1
#define O_LENGTH 2
/* sendMany(): Int32 × ASYNC_META per datagram: offset in the bytes, length (set to a negative
   errno by sendMany when that datagram was not sent), and for a listener the address to send it
   to: port, family (4|6), address (as M_ADDR). */
#define ASYNC_META 8
#define A_OFFSET 0
#define A_LENGTH 1
#define A_PORT 2
#define A_FAMILY 3
#define A_ADDR 4
/* Batches read per readiness event before yielding to the event loop (timers, TCP, …). */
#define MAX_ROUNDS 8

/*
 * Read coalescing of the listeners (coalesce()): after a round that read at least coalesce_min
 * datagrams but not a full batch, the thread sleeps coalesce_ns and reads again, within
 * MAX_ROUNDS. Such a round means datagrams arrive faster than the thread wakes for them; without
 * the pause each wake-up reads a few and pays the whole cost of a batch (the wake-up, the entry
 * into JavaScript, two system calls) for them. The pause comes after the round's replies are
 * sent, so it delays only datagrams that arrive during it; and only when the event loop has
 * nothing else waiting (other_work()). 0 ns: off.
 */
static long coalesce_ns = 0;
static int coalesce_min = 2;

/* recvmmsg's and sendmmsg's arrays for one socket */
typedef struct {
  struct sockaddr_storage addrs[BATCH];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  struct iovec siov[BATCH];
  struct mmsghdr smsgs[BATCH];
} Io;

typedef struct {
  int fd;
  int family;
  int closing;
  /* freed once both are set: the poll handle is closed and the JS external is collected */
  int closed;
  int finalized;
  uv_poll_t poll;
  napi_env env;
  napi_ref on_batch;
  napi_ref resource;
  napi_ref bufs[4];
  napi_async_context actx;
  uint8_t* in;
  int32_t* in_meta;
  uint8_t* out;
  size_t out_len;
  int32_t* out_meta;
  /* the system calls' arrays (~18 KB), freed when the socket is closed, not when its JS handle is
     collected: forward rotates its client sockets often, and their handles wait for a full GC */
  Io* io;
  double send_errors;
  double socket_errors;
  /* sendmmsg calls made by flush() and sendMany(), and the datagrams they sent (stats()) */
  double send_calls;
  double sent;
  /* a client socket (connectTo): connected to its upstream; errors go to onBatch as -errno */
  int connected;
  /* bytes per slot of `in` (SLOT for a listener; the client's `slot` option) */
  size_t slot;
  /* a listener's batch is being read, served or sent (on_poll, drain): drain() reads nothing */
  int busy;
} Sock;

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, NULL, "typedns native udp: " #call " failed"); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static napi_value throw_errno(napi_env env, const char* syscall, int err, const char* host, int port) {
  int uverr = uv_translate_sys_error(err);
  const char* code = uv_err_name(uverr);
  char msg[256];
  snprintf(msg, sizeof msg, "%s %s %s:%d", syscall, code, host, port);
  napi_value c, m, e, sc;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, c, m, &e);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, e, "syscall", sc);
  napi_value errnoV;
  napi_create_int32(env, uverr, &errnoV);
  napi_set_named_property(env, e, "errno", errnoV);
  napi_throw(env, e);
  return NULL;
}

static Sock* unwrap(napi_env env, napi_value v) {
  void* p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "not a typedns native udp handle");
    return NULL;
  }
  Sock* s = (Sock*)p;
  if (s->closing) return NULL;
  return s;
}

/* What a call on a handle unwrap() refused returns: its exception when it threw (not a handle), else `value` (closed). */
static napi_value closed_or_thrown(napi_env env, int32_t value) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return NULL;
  napi_value r;
  napi_create_int32(env, value, &r);
  return r;
}

static socklen_t addr_len(const struct sockaddr_storage* a) {
  return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* Send the nout replies JavaScript queued for datagrams 0..n-1 of this batch. */
static void flush(Sock* s, int nout, int n) {
  int k = 0;
  if (nout > BATCH) nout = BATCH;
  for (int j = 0; j < nout; j++) {
    int32_t idx = s->out_meta[j * OUT_META + O_INDEX];
    int32_t off = s->out_meta[j * OUT_META + O_OFFSET];
    int32_t len = s->out_meta[j * OUT_META + O_LENGTH];
    if (idx < 0 || idx >= n || off < 0 || len <= 0 || (size_t)off + (size_t)len > s->out_len) continue;
    s->io->siov[k].iov_base = s->out + off;
    s->io->siov[k].iov_len = (size_t)len;
    memset(&s->io->smsgs[k].msg_hdr, 0, sizeof(struct msghdr));
    s->io->smsgs[k].msg_hdr.msg_name = &s->io->addrs[idx];
    s->io->smsgs[k].msg_hdr.msg_namelen = addr_len(&s->io->addrs[idx]);
    s->io->smsgs[k].msg_hdr.msg_iov = &s->io->siov[k];
    s->io->smsgs[k].msg_hdr.msg_iovlen = 1;
    k++;
  }
  int sent = 0;
  while (sent < k) {
    int r = sendmmsg(s->fd, s->io->smsgs + sent, (unsigned)(k - sent), MSG_DONTWAIT);
    s->send_calls++;
    if (r > 0) {
      sent += r;
      s->sent += r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // the send buffer is full: UDP drops the rest of this batch's replies
      s->send_errors += k - sent;
      break;
    } else {
      // this reply could not be sent (unreachable client, …): skip it, send the others
      s->send_errors++;
      sent++;
    }
  }
}

/*
 * onBatch(argv[0]) entered from the event loop, in the socket's async context (the microtasks run
 * after it). False when it failed; an exception it threw is reported as uncaught (process
 * 'uncaughtException'), as a throw from any other event-loop callback is.
 */
static bool enter_js(Sock* s, napi_value recv, napi_value cb, napi_value* argv, napi_value* result) {
  napi_env env = s->env;
  if (napi_make_callback(env, s->actx, recv, cb, 1, argv, result) == napi_ok) return true;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value e;
    napi_get_and_clear_last_exception(env, &e);
    napi_fatal_exception(env, e);
  }
  return false;
}

/* onBatch(arg) for a client socket (n datagrams, or a negative errno); -1 when JavaScript threw. */
static int call_batch(Sock* s, int arg) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return -1;
  int rc = 0;
  napi_value cb, recv, argv[1], result;
  if (napi_get_reference_value(env, s->on_batch, &cb) != napi_ok || napi_get_reference_value(env, s->resource, &recv) != napi_ok) {
    rc = -1;
  } else {
    napi_create_int32(env, arg, &argv[0]);
    if (!enter_js(s, recv, cb, argv, &result)) rc = -1;
  }
  napi_close_handle_scope(env, scope);
  return rc;
}

/*
 * One batch of a listener: recvmmsg, onBatch(n) in JavaScript, sendmmsg of the replies it queued.
 * Returns the datagrams read (0: none waiting), or -1 when JavaScript failed (threw, or the
 * callback is gone). From the event loop (`sync` 0) JavaScript is entered with
 * napi_make_callback (its async context; the microtasks run after it); from drain() (`sync` 1)
 * with napi_call_function: JavaScript is on the stack already, and an exception it throws is
 * left pending for drain()'s caller.
 */
static int listener_round(Sock* s, int sync) {
  napi_env env = s->env;
  for (int i = 0; i < BATCH; i++) {
    s->io->iov[i].iov_base = s->in + (size_t)i * s->slot;
    s->io->iov[i].iov_len = s->slot;
    memset(&s->io->msgs[i].msg_hdr, 0, sizeof(struct msghdr));
    s->io->msgs[i].msg_hdr.msg_name = &s->io->addrs[i];
    s->io->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
    s->io->msgs[i].msg_hdr.msg_iov = &s->io->iov[i];
    s->io->msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int n = recvmmsg(s->fd, s->io->msgs, BATCH, MSG_DONTWAIT, NULL);
  if (n <= 0) return 0;
  for (int i = 0; i < n; i++) {
    int32_t* m = s->in_meta + i * META;
    m[M_LEN] = (s->io->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int32_t)s->io->msgs[i].msg_len;
    m[M_ZERO] = 0;
    if (s->io->addrs[i].ss_family == AF_INET6) {
      struct sockaddr_in6* a = (struct sockaddr_in6*)&s->io->addrs[i];
      m[M_PORT] = ntohs(a->sin6_port);
      m[M_FAMILY] = 6;
      memcpy(&m[M_ADDR], &a->sin6_addr, 16);
    } else {
      struct sockaddr_in* a = (struct sockaddr_in*)&s->io->addrs[i];
      m[M_PORT] = ntohs(a->sin_port);
      m[M_FAMILY] = 4;
      m[M_ADDR] = (int32_t)ntohl(a->sin_addr.s_addr);
    }
  }
  napi_value cb, recv, argv[1], result;
  if (napi_get_reference_value(env, s->on_batch, &cb) != napi_ok || napi_get_reference_value(env, s->resource, &recv) != napi_ok) return -1;
  napi_create_int32(env, n, &argv[0]);
  if (sync) {
    if (napi_call_function(env, recv, cb, 1, argv, &result) != napi_ok) return -1;
  } else {
    if (!enter_js(s, recv, cb, argv, &result)) return -1;
  }
  int32_t nout = 0;
  // (replies queued in a batch during which JavaScript closed the socket are dropped: shutdown)
  if (napi_get_value_int32(env, result, &nout) == napi_ok && nout > 0 && !s->closing) flush(s, nout, n);
  return n;
}

/*
 * Whether the event loop has other work waiting, after a read of a listener that found some
 * datagrams but not a full batch (coalesce_ns): callbacks or setImmediate queued, or one of its
 * descriptors other than this listener ready (a TCP connection, an upstream's reply). A pause
 * would hold that work up. (libuv's epoll set is level-triggered, and each event carries its
 * descriptor: looking does not take an event from libuv.)
 */
static int other_work(Sock* s) {
  uv_loop_t* loop = s->poll.loop;
  if (uv_backend_timeout(loop) == 0) return 1;
  struct epoll_event ev[16];
  int n = epoll_wait(uv_backend_fd(loop), ev, 16, 0);
  for (int i = 0; i < n; i++)
    if (ev[i].data.fd != s->fd) return 1;
  return 0;
}

static void on_poll(uv_poll_t* h, int status, int events) {
  (void)events;
  Sock* s = (Sock*)h->data;
  if (s->closing) return;
  if (status < 0) {
    // libuv stopped the handle on a socket error (an ICMP error queued on the socket): clear it
    // and read on; a client socket tells JavaScript (ECONNREFUSED: the upstream is not there)
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    s->socket_errors++;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    if (s->connected && err != 0) call_batch(s, uv_translate_sys_error(err));
    return;
  }
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (!s->connected) {
    // busy until the batches' replies are sent: a drain() from JavaScript run meanwhile (the
    // microtasks after onBatch) must not read into the buffers of a batch not yet flushed
    s->busy = 1;
    for (int round = 0; round < MAX_ROUNDS && !s->closing; round++) {
      int n = listener_round(s, 0);
      if (n >= BATCH) continue;
      if (coalesce_ns <= 0 || n < coalesce_min || round + 1 == MAX_ROUNDS || other_work(s)) break;
      struct timespec pause = {coalesce_ns / 1000000000L, coalesce_ns % 1000000000L};
      nanosleep(&pause, NULL);
    }
    s->busy = 0;
    napi_close_handle_scope(env, scope);
    return;
  }
  for (int round = 0; round < MAX_ROUNDS && !s->closing; round++) {
    for (int i = 0; i < BATCH; i++) {
      s->io->iov[i].iov_base = s->in + (size_t)i * s->slot;
      s->io->iov[i].iov_len = s->slot;
      memset(&s->io->msgs[i].msg_hdr, 0, sizeof(struct msghdr));
      s->io->msgs[i].msg_hdr.msg_name = NULL;
      s->io->msgs[i].msg_hdr.msg_namelen = 0;
      s->io->msgs[i].msg_hdr.msg_iov = &s->io->iov[i];
      s->io->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(s->fd, s->io->msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      // a connected socket's pending error (ECONNREFUSED, …) is returned by the read
      int e = errno;
      s->socket_errors++;
      napi_close_handle_scope(env, scope);
      call_batch(s, uv_translate_sys_error(e));
      return;
    }
    if (n <= 0) break;
    for (int i = 0; i < n; i++) s->in_meta[i * META + M_LEN] = (s->io->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int32_t)s->io->msgs[i].msg_len;
    if (call_batch(s, n) != 0) break;
    if (n < BATCH) break;
  }
  napi_close_handle_scope(env, scope);
}

/* Drop what a socket holds of JavaScript: its callback, resource, buffers, async context. */
static void release_js(Sock* s) {
  napi_env env = s->env;
  napi_delete_reference(env, s->on_batch);
  napi_delete_reference(env, s->resource);
  for (int i = 0; i < 4; i++)
    if (s->bufs[i]) napi_delete_reference(env, s->bufs[i]);
  napi_async_destroy(env, s->actx);
}

static void free_sock(Sock* s) {
  free(s->io);
  free(s);
}

static void on_closed(uv_handle_t* h) {
  Sock* s = (Sock*)h->data;
  release_js(s);
  s->closed = 1;
  free(s->io);
  s->io = NULL;
  if (s->finalized) free(s);
}

/* The JS handle was collected: free the socket's memory if it is closed (else on_closed will). */
static void finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  Sock* s = (Sock*)data;
  s->finalized = 1;
  if (s->closed) free_sock(s);
}

/* A socket's state for `fd`; NULL (fd closed, an error thrown) when out of memory. */
static Sock* new_sock(napi_env env, int fd, int family) {
  Sock* s = (Sock*)calloc(1, sizeof(Sock));
  Io* io = s == NULL ? NULL : (Io*)calloc(1, sizeof(Io));
  if (io == NULL) {
    free(s);
    close(fd);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  s->io = io;
  s->fd = fd;
  s->family = family;
  s->env = env;
  return s;
}

/*
 * The end of open() and connectTo(), once the buffers are in `s` (`ok`: they are big enough):
 * keep the callback and its async resource, poll the socket, return its JS handle. On failure
 * everything is released and an error thrown, naming `what`.
 */
static napi_value start_sock(napi_env env, Sock* s, int ok, napi_value on_batch, napi_value resource, const char* resource_name, const char* what) {
  napi_create_reference(env, on_batch, 1, &s->on_batch);
  napi_create_reference(env, resource, 1, &s->resource);
  napi_value name;
  napi_create_string_utf8(env, resource_name, NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &s->actx);
  uv_loop_t* loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  s->poll.data = s;
  char msg[64];
  if (!ok || loop == NULL || uv_poll_init(loop, &s->poll, s->fd) != 0) {
    // the handle was never initialised: free by hand
    close(s->fd);
    release_js(s);
    free_sock(s);
    snprintf(msg, sizeof msg, "%s: bad buffers or event loop", what);
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  if (uv_poll_start(&s->poll, UV_READABLE, on_poll) != 0) {
    s->closing = 1;
    s->finalized = 1; // no JS handle will exist
    close(s->fd);
    uv_close((uv_handle_t*)&s->poll, on_closed);
    snprintf(msg, sizeof msg, "%s: uv_poll_start failed", what);
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  napi_value ext;
  CHECK(napi_create_external(env, s, finalize, NULL, &ext));
  return ext;
}

static int to_addr(int family, const char* host, int port, struct sockaddr_storage* out) {
  memset(out, 0, sizeof *out);
  if (family == AF_INET6) {
    struct sockaddr_in6* a = (struct sockaddr_in6*)out;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host, &a->sin6_addr) == 1) return 0;
    struct in_addr v4;
    if (inet_pton(AF_INET, host, &v4) != 1) return -1;
    // an IPv4 client of a dual-stack socket: ::ffff:a.b.c.d
    a->sin6_addr.s6_addr[10] = 0xff;
    a->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&a->sin6_addr.s6_addr[12], &v4, 4);
    return 0;
  }
  struct sockaddr_in* a = (struct sockaddr_in*)out;
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)port);
  return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static void get_buf(napi_env env, napi_value v, void** data, size_t* len, napi_ref* ref) {
  *data = NULL;
  *len = 0;
  if (napi_get_arraybuffer_info(env, v, data, len) != napi_ok) return;
  napi_create_reference(env, v, 1, ref);
}

/* The options of open(), by name: opt[K_X] is the value of OPEN_KEYS[K_X]. */
/* What open() and connectTo() both take first: host, port, v6, rcvbuf, sndbuf (keys 0–4 of each). */
typedef struct {
  char host[64];
  int32_t port, rcv, snd;
  int family;
  struct sockaddr_storage addr;
} Endpoint;

/*
 * Read the options object of open()/connectTo() (`what`) into `opt` by `keys`, and its endpoint:
 * 0 (an error thrown) when it is not an object, the port is out of 0–65535 or the host is not an
 * IP address of the family.
 */
static int read_endpoint(napi_env env, napi_callback_info info, const char* const* keys, int n, napi_value* opt, Endpoint* ep, const char* what) {
  size_t argc = 1;
  napi_value opts;
  char msg[64];
  if (napi_get_cb_info(env, info, &argc, &opts, NULL, NULL) != napi_ok) return 0;
  napi_valuetype t = napi_undefined;
  if (argc < 1 || napi_typeof(env, opts, &t) != napi_ok || t != napi_object) {
    snprintf(msg, sizeof msg, "%s: an options object expected", what);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  for (int i = 0; i < n; i++)
    if (napi_get_named_property(env, opts, keys[i], &opt[i]) != napi_ok) return 0;
  size_t hl = 0;
  bool v6 = false;
  if (napi_get_value_string_utf8(env, opt[0], ep->host, sizeof ep->host, &hl) != napi_ok || napi_get_value_int32(env, opt[1], &ep->port) != napi_ok ||
      napi_get_value_bool(env, opt[2], &v6) != napi_ok || napi_get_value_int32(env, opt[3], &ep->rcv) != napi_ok || napi_get_value_int32(env, opt[4], &ep->snd) != napi_ok) {
    snprintf(msg, sizeof msg, "%s: bad host, port, v6, rcvbuf or sndbuf", what);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  if (ep->port < 0 || ep->port > 65535) {
    snprintf(msg, sizeof msg, "%s: port out of range", what);
    napi_throw_range_error(env, "ERR_SOCKET_BAD_PORT", msg);
    return 0;
  }
  ep->family = v6 ? AF_INET6 : AF_INET;
  if (to_addr(ep->family, ep->host, ep->port, &ep->addr) != 0) {
    snprintf(msg, sizeof msg, "%s: not an IP address", what);
    napi_throw_type_error(env, "ERR_INVALID_ADDRESS", msg);
    return 0;
  }
  return 1;
}

enum { K_HOST, K_PORT, K_V6, K_RCVBUF, K_SNDBUF, K_REUSE_PORT, K_IN, K_IN_META, K_OUT, K_OUT_META, K_ON_BATCH, K_RESOURCE, OPEN_NKEYS };
static const char* const OPEN_KEYS[OPEN_NKEYS] = {"host", "port", "v6", "rcvbuf", "sndbuf", "reusePort", "in", "inMeta", "out", "outMeta", "onBatch", "resource"};

// open({ host, port, v6, rcvbuf, sndbuf, reusePort, in, inMeta, out, outMeta, onBatch, resource }) → handle
static napi_value Open(napi_env env, napi_callback_info info) {
  napi_value opt[OPEN_NKEYS];
  Endpoint ep;
  if (!read_endpoint(env, info, OPEN_KEYS, OPEN_NKEYS, opt, &ep, "open")) return NULL;
  bool reuse = false;
  CHECK(napi_get_value_bool(env, opt[K_REUSE_PORT], &reuse));
  const char* host = ep.host;
  int32_t port = ep.port, rcv = ep.rcv, snd = ep.snd;
  int family = ep.family;
  struct sockaddr_storage addr = ep.addr;
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno, host, port);
  int one = 1;
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "setsockopt", e, host, port);
  }
  if (rcv > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  if (snd > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  if (bind(fd, (struct sockaddr*)&addr, addr_len(&addr)) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind", e, host, port);
  }
  Sock* s = new_sock(env, fd, family);
  if (s == NULL) return NULL;
  s->slot = SLOT;
  size_t len = 0;
  void* p = NULL;
  get_buf(env, opt[K_IN], &p, &len, &s->bufs[0]);
  s->in = (uint8_t*)p;
  int ok = p != NULL && len >= (size_t)BATCH * SLOT;
  get_buf(env, opt[K_IN_META], &p, &len, &s->bufs[1]);
  s->in_meta = (int32_t*)p;
  ok = ok && p != NULL && len >= (size_t)BATCH * META * 4;
  get_buf(env, opt[K_OUT], &p, &len, &s->bufs[2]);
  s->out = (uint8_t*)p;
  s->out_len = len;
  ok = ok && p != NULL;
  get_buf(env, opt[K_OUT_META], &p, &len, &s->bufs[3]);
  s->out_meta = (int32_t*)p;
  ok = ok && p != NULL && len >= (size_t)BATCH * OUT_META * 4;
  return start_sock(env, s, ok, opt[K_ON_BATCH], opt[K_RESOURCE], "typedns:udp", "open");
}

/* The options of connectTo(), by name. */
enum { C_HOST, C_PORT, C_V6, C_RCVBUF, C_SNDBUF, C_IN, C_IN_META, C_SLOT, C_ON_BATCH, C_RESOURCE, CONNECT_NKEYS };
static const char* const CONNECT_KEYS[CONNECT_NKEYS] = {"host", "port", "v6", "rcvbuf", "sndbuf", "in", "inMeta", "slot", "onBatch", "resource"};
_Static_assert(K_HOST == 0 && K_PORT == 1 && K_V6 == 2 && K_RCVBUF == 3 && K_SNDBUF == 4, "read_endpoint reads keys 0-4");
_Static_assert(C_HOST == 0 && C_PORT == 1 && C_V6 == 2 && C_RCVBUF == 3 && C_SNDBUF == 4, "read_endpoint reads keys 0-4");

// connectTo({ host, port, v6, rcvbuf, sndbuf, in, inMeta, slot, onBatch, resource }) → handle: a
// client socket connected to host:port from a port the kernel picks at random (connect() without
// bind). Replies are read with recvmmsg into `in` (BATCH slots of `slot` bytes; inMeta's M_LEN
// word per datagram, -1 when larger than a slot) and handed over with onBatch(n) once per batch;
// a socket error (ECONNREFUSED: ICMP port unreachable) comes as onBatch(negative errno). Several
// client sockets may share `in`/`inMeta`: JavaScript reads a batch during its onBatch call.
// Queries go out with sendMany (connected: no address).
static napi_value ConnectTo(napi_env env, napi_callback_info info) {
  napi_value opt[CONNECT_NKEYS];
  Endpoint ep;
  if (!read_endpoint(env, info, CONNECT_KEYS, CONNECT_NKEYS, opt, &ep, "connectTo")) return NULL;
  int32_t slot = 0;
  CHECK(napi_get_value_int32(env, opt[C_SLOT], &slot));
  if (ep.port == 0 || slot < 512) {
    napi_throw_range_error(env, "ERR_SOCKET_BAD_PORT", "connectTo: port or slot out of range");
    return NULL;
  }
  const char* host = ep.host;
  int32_t port = ep.port, rcv = ep.rcv, snd = ep.snd;
  int family = ep.family;
  struct sockaddr_storage addr = ep.addr;
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno, host, port);
  if (rcv > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  if (snd > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  if (connect(fd, (struct sockaddr*)&addr, addr_len(&addr)) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "connect", e, host, port);
  }
  Sock* s = new_sock(env, fd, family);
  if (s == NULL) return NULL;
  s->connected = 1;
  s->slot = (size_t)slot;
  size_t len = 0;
  void* p = NULL;
  get_buf(env, opt[C_IN], &p, &len, &s->bufs[0]);
  s->in = (uint8_t*)p;
  int ok = p != NULL && len >= (size_t)BATCH * (size_t)slot;
  get_buf(env, opt[C_IN_META], &p, &len, &s->bufs[1]);
  s->in_meta = (int32_t*)p;
  ok = ok && p != NULL && len >= (size_t)BATCH * META * 4;
  return start_sock(env, s, ok, opt[C_ON_BATCH], opt[C_RESOURCE], "typedns:udp-client", "connectTo");
}

// sendMany(handle, bytes: ArrayBuffer, meta: ArrayBuffer, n) → how many of the n datagrams were
// not sent (each of those has a negative errno, libuv's numbering, in its A_LENGTH word). Datagram
// j is bytes[A_OFFSET .. +A_LENGTH] of its ASYNC_META words; on a listener it goes to A_PORT,
// A_FAMILY, A_ADDR (an IPv4 address to a dual-stack socket as ::ffff:a.b.c.d), on a client socket
// to the connected peer. One sendmmsg per BATCH datagrams.
static napi_value SendMany(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_value r;
  Sock* s = unwrap(env, argv[0]);
  if (s == NULL) return closed_or_thrown(env, 0);
  void* bytes = NULL;
  void* metap = NULL;
  size_t blen = 0, mlen = 0;
  int32_t n = 0;
  CHECK(napi_get_arraybuffer_info(env, argv[1], &bytes, &blen));
  CHECK(napi_get_arraybuffer_info(env, argv[2], &metap, &mlen));
  CHECK(napi_get_value_int32(env, argv[3], &n));
  int32_t* meta = (int32_t*)metap;
  if (n < 0 || (size_t)n * ASYNC_META * 4 > mlen) {
    napi_throw_range_error(env, NULL, "sendMany: more datagrams than meta words");
    return NULL;
  }
  static struct sockaddr_storage addrs[BATCH];
  static int32_t which[BATCH];
  int failed = 0;
  for (int base = 0; base < n;) {
    int k = 0;
    for (; base < n && k < BATCH; base++) {
      int32_t* m = meta + (size_t)base * ASYNC_META;
      int32_t off = m[A_OFFSET], len = m[A_LENGTH];
      if (off < 0 || len <= 0 || (size_t)off + (size_t)len > blen) {
        m[A_LENGTH] = UV_EINVAL;
        failed++;
        continue;
      }
      struct msghdr* mh = &s->io->smsgs[k].msg_hdr;
      memset(mh, 0, sizeof *mh);
      if (!s->connected) {
        struct sockaddr_storage* a = &addrs[k];
        memset(a, 0, sizeof *a);
        if (s->family == AF_INET6) {
          struct sockaddr_in6* a6 = (struct sockaddr_in6*)a;
          a6->sin6_family = AF_INET6;
          a6->sin6_port = htons((uint16_t)m[A_PORT]);
          if (m[A_FAMILY] == 6) {
            memcpy(&a6->sin6_addr, &m[A_ADDR], 16);
          } else {
            uint32_t v4 = htonl((uint32_t)m[A_ADDR]);
            a6->sin6_addr.s6_addr[10] = 0xff;
            a6->sin6_addr.s6_addr[11] = 0xff;
            memcpy(&a6->sin6_addr.s6_addr[12], &v4, 4);
          }
        } else {
          struct sockaddr_in* a4 = (struct sockaddr_in*)a;
          if (m[A_FAMILY] != 4) {
            m[A_LENGTH] = UV_EAFNOSUPPORT;
            failed++;
            continue;
          }
          a4->sin_family = AF_INET;
          a4->sin_port = htons((uint16_t)m[A_PORT]);
          a4->sin_addr.s_addr = htonl((uint32_t)m[A_ADDR]);
        }
        mh->msg_name = a;
        mh->msg_namelen = addr_len(a);
      }
      s->io->siov[k].iov_base = (uint8_t*)bytes + off;
      s->io->siov[k].iov_len = (size_t)len;
      mh->msg_iov = &s->io->siov[k];
      mh->msg_iovlen = 1;
      which[k] = base;
      k++;
    }
    int sent = 0;
    while (sent < k) {
      int w = sendmmsg(s->fd, s->io->smsgs + sent, (unsigned)(k - sent), MSG_DONTWAIT);
      s->send_calls++;
      if (w > 0) {
        sent += w;
        s->sent += w;
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else {
        // datagram `sent` failed (a full send buffer drops it too, as UDP would): skip it
        meta[(size_t)which[sent] * ASYNC_META + A_LENGTH] = uv_translate_sys_error(errno);
        s->send_errors++;
        failed++;
        sent++;
      }
    }
  }
  napi_create_int32(env, failed, &r);
  return r;
}

// stats(handle) → [sendmmsg calls, datagrams sent by them] (flush and sendMany; tests and bench)
static napi_value Stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock* s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  napi_value arr, v;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_double(env, s->send_calls, &v);
  napi_set_element(env, arr, 0, v);
  napi_create_double(env, s->sent, &v);
  napi_set_element(env, arr, 1, v);
  return arr;
}

// coalesce(us, min): the listeners' read coalescing (coalesce_ns above) for the whole process;
// us 0 turns it off. Out-of-range values are clamped (0–1 s, min 1–BATCH).
static napi_value Coalesce(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double us = 0;
  int32_t min = 2;
  if (argc < 2 || napi_get_value_double(env, argv[0], &us) != napi_ok || napi_get_value_int32(env, argv[1], &min) != napi_ok) {
    napi_throw_type_error(env, NULL, "coalesce(us, min): two numbers expected");
    return NULL;
  }
  if (!(us > 0)) us = 0;
  if (us > 1e6) us = 1e6;
  coalesce_ns = (long)(us * 1000);
  coalesce_min = min < 1 ? 1 : min > BATCH ? BATCH : min;
  return NULL;
}

// localPort(handle) → number
static napi_value LocalPort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock* s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  struct sockaddr_storage a;
  socklen_t l = sizeof a;
  int port = -1;
  if (getsockname(s->fd, (struct sockaddr*)&a, &l) == 0)
    port = a.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6*)&a)->sin6_port) : ntohs(((struct sockaddr_in*)&a)->sin_port);
  napi_value r;
  napi_create_int32(env, port, &r);
  return r;
}

// sendTo(handle, bytes: Uint8Array, host, port) → 0 or a negative errno (libuv's numbering)
static napi_value SendTo(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_value r;
  Sock* s = unwrap(env, argv[0]);
  if (s == NULL) return closed_or_thrown(env, UV_EBADF);
  napi_typedarray_type t;
  size_t n = 0, off = 0;
  void* data = NULL;
  napi_value ab;
  CHECK(napi_get_typedarray_info(env, argv[1], &t, &n, &data, &ab, &off));
  if (t != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "sendTo: a Uint8Array expected");
    return NULL;
  }
  char host[64];
  size_t hl = 0;
  int32_t port = 0;
  CHECK(napi_get_value_string_utf8(env, argv[2], host, sizeof host, &hl));
  CHECK(napi_get_value_int32(env, argv[3], &port));
  struct sockaddr_storage a;
  int rc = 0;
  if (to_addr(s->family, host, port, &a) != 0) {
    rc = UV_EINVAL;
  } else {
    ssize_t w;
    do w = sendto(s->fd, data, n, MSG_DONTWAIT, (struct sockaddr*)&a, addr_len(&a));
    while (w < 0 && errno == EINTR);
    if (w < 0) {
      rc = uv_translate_sys_error(errno);
      s->send_errors++;
    }
  }
  napi_create_int32(env, rc, &r);
  return r;
}

// steer(handle, groupSize) → 0 or a negative errno: attach to the socket's SO_REUSEPORT group a
// classic BPF program that picks the group's socket by a hash of the query name, so that every
// query for one name (whatever its case) reaches the same process (-workers: one cache, not N).
// The kernel runs it with the data at the UDP payload: the DNS header, the name at offset 12.
// Per byte of the name (up to STEER_BYTES): stop at the root label's 0, fold case (| 0x20), and
// FNV-1a into M[0]; then mix the high bits down and return hash % groupSize. A datagram too short
// for a load ends the program with 0 (the first socket); an index past the group's size (a worker
// restarting) makes the kernel fall back to its own 4-tuple hash.
#define STEER_BYTES 128
#define STEER_LEN (2 + STEER_BYTES * 9 + 10)
static napi_value Steer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock* s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  int32_t n = 0;
  CHECK(napi_get_value_int32(env, argv[1], &n));
  napi_value r;
  if (n < 1) {
    napi_create_int32(env, UV_EINVAL, &r);
    return r;
  }
  static struct sock_filter prog[STEER_LEN];
  int pc = 0;
  const int end = 2 + STEER_BYTES * 9;
  prog[pc++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_IMM, 0x811c9dc5u);
  prog[pc++] = (struct sock_filter)BPF_STMT(BPF_ST, 0);
  for (int i = 0; i < STEER_BYTES; i++) {
    prog[pc++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 12 + i);
    prog[pc++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1);
    prog[pc] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, (uint32_t)(end - (pc + 1)));
    pc++;
    prog[pc++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_OR | BPF_K, 0x20);
    prog[pc++] = (struct sock_filter)BPF_STMT(BPF_MISC | BPF_TAX, 0);
    prog[pc++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_MEM, 0);
    prog[pc++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0);
    prog[pc++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 0x01000193u);
    prog[pc++] = (struct sock_filter)BPF_STMT(BPF_ST, 0);
  }
  // end: A = M[0]; A ^= A >> 16; A *= 0x45d9f3b; A ^= A >> 16; return A % n
  prog[pc++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_MEM, 0);
  prog[pc++] = (struct sock_filter)BPF_STMT(BPF_MISC | BPF_TAX, 0);
  prog[pc++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16);
  prog[pc++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0);
  prog[pc++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 0x45d9f3bu);
  prog[pc++] = (struct sock_filter)BPF_STMT(BPF_MISC | BPF_TAX, 0);
  prog[pc++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16);
  prog[pc++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0);
  prog[pc++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (uint32_t)n);
  prog[pc++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
  struct sock_fprog fp = {.len = (unsigned short)pc, .filter = prog};
  int rc = 0;
  if (setsockopt(s->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fp, sizeof fp) != 0) rc = uv_translate_sys_error(errno);
  napi_create_int32(env, rc, &r);
  return r;
}

// sendErrors(handle) → replies that could not be sent
static napi_value SendErrors(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock* s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  napi_value r;
  napi_create_double(env, s->send_errors + s->socket_errors, &r);
  return r;
}

// drain(handle) → datagrams served: read and serve what waits on a listener now, from JavaScript
// (a stream path that has run for a while: UDP need not wait for the end of its turn of the event
// loop). The same batches as a readiness event (onBatch, sendmmsg), called with JavaScript on the
// stack; nothing is read while the listener's own batch is being served (0), nor on a client
// socket. An exception thrown by onBatch is left to the caller.
static napi_value Drain(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_value r;
  Sock* s = unwrap(env, argv[0]);
  if (s == NULL) return closed_or_thrown(env, 0);
  int total = 0;
  if (!s->busy && !s->connected) {
    s->busy = 1;
    for (int round = 0; round < MAX_ROUNDS && !s->closing; round++) {
      int n = listener_round(s, 1);
      if (n > 0) total += n;
      if (n < BATCH) break;
    }
    s->busy = 0;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) return NULL;
  }
  napi_create_int32(env, total, &r);
  return r;
}

// threadCpu() → CPU time of the calling thread, ms (CLOCK_THREAD_CPUTIME_ID: bench diagnostics,
// TYPEDNS_UDP_GAPS_FILE: how much of a wait between two UDP reads was this thread's own work)
static napi_value ThreadCpu(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  napi_value r;
  napi_create_double(env, (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6, &r);
  return r;
}

// trimPages() → Promise<[mappings, kB]>: on a thread of libuv's pool (reading smaps takes a
// few ms), drop this process's page-table entries for the pages of files it maps read-only and
// private that it has not written (the node binary's code and read-only data, shared libraries):
// the pages stay in the page cache and come back on the next touch, so only what keeps being used
// is resident again. A mapping with any anonymous (copied on write, e.g. relocated) or swapped
// page is left alone, as are shared, writable and special mappings (memfd, /dev). Then
// malloc_trim(0) returns the free memory of malloc's arenas to the system (a thread's arena keeps
// megabytes after start-up and compilations). Resolves with how many mappings were advised and
// the kB they had resident. Called by src/server/trim.ts.
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int32_t count;
  double kb;
} trim_job;

static void trim_execute(napi_env env, void* data) {
  (void)env;
  trim_job* job = data;
  FILE* f = fopen("/proc/self/smaps", "re");
  if (f != NULL) {
    char line[4352];
    unsigned long lo = 0, hi = 0;
    bool candidate = false;
    long rss = -1, anon = -1, swap = -1;
    bool more = true;
    while (more) {
      more = fgets(line, sizeof line, f) != NULL;
      bool header = more && ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f'));
      if (!more || header) {
        // the previous mapping is complete: advise it when it qualifies
        if (candidate && anon == 0 && swap == 0 && rss > 0 && madvise((void*)lo, hi - lo, MADV_DONTNEED) == 0) {
          job->kb += (double)rss;
          job->count++;
        }
        candidate = false;
        rss = anon = swap = -1;
        if (!more) break;
        char perms[5] = "";
        unsigned long off = 0, ino = 0;
        unsigned int major = 0, minor = 0;
        int at = 0;
        if (sscanf(line, "%lx-%lx %4s %lx %x:%x %lu %n", &lo, &hi, perms, &off, &major, &minor, &ino, &at) < 7) continue;
        const char* file = line + at;
        // read-only, private, a regular file of a real file system (not a memfd, /dev or SysV segment)
        candidate = ino != 0 && perms[1] == '-' && perms[3] == 'p' && file[0] == '/' && strncmp(file, "/memfd:", 7) != 0 &&
                    strncmp(file, "/dev/", 5) != 0 && strncmp(file, "/SYSV", 5) != 0 && hi > lo;
        continue;
      }
      long v;
      if (strncmp(line, "Rss:", 4) == 0 && sscanf(line + 4, "%ld", &v) == 1) rss = v;
      else if (strncmp(line, "Anonymous:", 10) == 0 && sscanf(line + 10, "%ld", &v) == 1) anon = v;
      else if (strncmp(line, "Swap:", 5) == 0 && sscanf(line + 5, "%ld", &v) == 1) swap = v;
    }
    fclose(f);
  }
  malloc_trim(0);
}

static void trim_complete(napi_env env, napi_status status, void* data) {
  trim_job* job = data;
  napi_value r, n, k;
  if (status == napi_ok && napi_create_array_with_length(env, 2, &r) == napi_ok) {
    napi_create_int32(env, job->count, &n);
    napi_create_double(env, job->kb, &k);
    napi_set_element(env, r, 0, n);
    napi_set_element(env, r, 1, k);
    napi_resolve_deferred(env, job->deferred, r);
  } else {
    napi_value msg, err;
    napi_create_string_utf8(env, "trimPages did not run", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_reject_deferred(env, job->deferred, err);
  }
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value TrimPages(napi_env env, napi_callback_info info) {
  (void)info;
  trim_job* job = calloc(1, sizeof *job);
  if (job == NULL) {
    napi_throw_error(env, NULL, "trimPages: out of memory");
    return NULL;
  }
  napi_value promise, name;
  napi_create_string_utf8(env, "typedns.trimPages", NAPI_AUTO_LENGTH, &name);
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_async_work(env, NULL, name, trim_execute, trim_complete, job, &job->work) != napi_ok) {
    free(job);
    napi_throw_error(env, NULL, "trimPages: no async work");
    return NULL;
  }
  napi_queue_async_work(env, job->work);
  return promise;
}

// close(handle): stop reading; the socket is closed on the next turn of the event loop
static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void* p = NULL;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || p == NULL) return NULL;
  Sock* s = (Sock*)p;
  if (s->closing) return NULL;
  s->closing = 1;
  // uv_poll_stop takes the fd out of epoll at once, so the fd can be closed now: the port is
  // free when close() returns (the handle itself is closed on the next turn of the loop)
  uv_poll_stop(&s->poll);
  close(s->fd);
  s->fd = -1;
  uv_close((uv_handle_t*)&s->poll, on_closed);
  return NULL;
}

static void unmap_buffer(napi_env env, void* data, void* hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

// shmCreate(size) → [fd, ArrayBuffer]
static napi_value ShmCreate(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t size = 0;
  if (argc < 1 || napi_get_value_int64(env, argv[0], &size) != napi_ok || size <= 0) {
    napi_throw_type_error(env, NULL, "shmCreate: size must be a positive number");
    return NULL;
  }
  int fd = memfd_create("typedns-cluster", MFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, "memfd_create", errno, NULL, 0);
  if (ftruncate(fd, (off_t)size) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "ftruncate", err, NULL, 0);
  }
  void* p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    close(fd);
    return throw_errno(env, "mmap", err, NULL, 0);
  }
  napi_value ab, fdv, arr;
  if (napi_create_external_arraybuffer(env, p, (size_t)size, unmap_buffer, (void*)(uintptr_t)size, &ab) != napi_ok) {
    munmap(p, (size_t)size);
    close(fd);
    napi_throw_error(env, NULL, "shmCreate: no external ArrayBuffer");
    return NULL;
  }
  napi_create_int32(env, fd, &fdv);
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, fdv);
  napi_set_element(env, arr, 1, ab);
  return arr;
}

// shmOpen(path) → ArrayBuffer (read-only)
static napi_value ShmOpen(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[256];
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "shmOpen: path must be a string");
    return NULL;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open", errno, path, 0);
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size <= 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "fstat", err == 0 ? EINVAL : err, path, 0);
  }
  size_t size = (size_t)st.st_size;
  void* p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED) return throw_errno(env, "mmap", err, path, 0);
  napi_value ab;
  if (napi_create_external_arraybuffer(env, p, size, unmap_buffer, (void*)(uintptr_t)size, &ab) != napi_ok) {
    munmap(p, size);
    napi_throw_error(env, NULL, "shmOpen: no external ArrayBuffer");
    return NULL;
  }
  return ab;
}

// shmClose(fd)
static napi_value ShmClose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1;
  if (argc >= 1 && napi_get_value_int32(env, argv[0], &fd) == napi_ok && fd >= 0) close(fd);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, Open, NULL, NULL, NULL, napi_default, NULL},
      {"localPort", NULL, LocalPort, NULL, NULL, NULL, napi_default, NULL},
      {"sendTo", NULL, SendTo, NULL, NULL, NULL, napi_default, NULL},
      {"sendErrors", NULL, SendErrors, NULL, NULL, NULL, napi_default, NULL},
      {"steer", NULL, Steer, NULL, NULL, NULL, napi_default, NULL},
      {"connectTo", NULL, ConnectTo, NULL, NULL, NULL, napi_default, NULL},
      {"sendMany", NULL, SendMany, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, Stats, NULL, NULL, NULL, napi_default, NULL},
      {"coalesce", NULL, Coalesce, NULL, NULL, NULL, napi_default, NULL},
      {"drain", NULL, Drain, NULL, NULL, NULL, napi_default, NULL},
      {"threadCpu", NULL, ThreadCpu, NULL, NULL, NULL, napi_default, NULL},
      {"trimPages", NULL, TrimPages, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"shmCreate", NULL, ShmCreate, NULL, NULL, NULL, napi_default, NULL},
      {"shmOpen", NULL, ShmOpen, NULL, NULL, NULL, napi_default, NULL},
      {"shmClose", NULL, ShmClose, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  // the buffers' layout, read once by udp-native.ts
  static const struct {
    const char* name;
    int32_t value;
  } layout[] = {
      {"BATCH", BATCH},   {"SLOT", SLOT},         {"META", META},         {"OUT_META", OUT_META}, {"M_LEN", M_LEN},
      {"M_PORT", M_PORT}, {"M_FAMILY", M_FAMILY}, {"M_ADDR", M_ADDR},     {"O_INDEX", O_INDEX},   {"O_OFFSET", O_OFFSET},
      {"O_LENGTH", O_LENGTH}, {"ASYNC_META", ASYNC_META}, {"A_OFFSET", A_OFFSET}, {"A_LENGTH", A_LENGTH}, {"A_PORT", A_PORT},
      {"A_FAMILY", A_FAMILY}, {"A_ADDR", A_ADDR},
  };
  napi_value obj, v;
  napi_create_object(env, &obj);
  for (size_t i = 0; i < sizeof layout / sizeof layout[0]; i++) {
    napi_create_int32(env, layout[i].value, &v);
    napi_set_named_property(env, obj, layout[i].name, v);
  }
  napi_set_named_property(env, exports, "layout", obj);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
