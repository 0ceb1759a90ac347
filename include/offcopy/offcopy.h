/* offcopy.h -- liboffcopy's C API.
 *
 * The C face of offcopy/copy.h and offcopy/engine.h, for C programs and for
 * other languages' foreign-function interfaces.  Compiles as C11 and as C++;
 * uses no C++ types.  Link with `pkg-config --libs [--static] offcopy` or
 * with CMake's `find_package(offcopy)` and the target offcopy::offcopy.
 *
 * Conventions, for every function below unless it says otherwise:
 *  - Errors are returned as negative errno values (-EINVAL, -ENOSPC, ...),
 *    as liburing does; errno itself is not a channel of this API (the
 *    library may change it, callers must not read it).  A C++ exception
 *    never crosses this API: std::bad_alloc becomes -ENOMEM.
 *  - Pointers to options may be NULL, meaning "all defaults"; an options
 *    struct zero-initialised (`= {0}`) also means all defaults.
 *  - Pointers to output structs (report, id, progress) are written only
 *    for the duration of the call; the library keeps no pointer to any
 *    caller memory after a call returns (except the borrowed descriptors
 *    of offcopy_engine_submit_range, see there).
 *  - Enumerations travel as plain `int` in the structs so the layout does
 *    not depend on the compiler's enum size; a value outside its enum is
 *    -EINVAL.
 *
 * ABI: the structs may grow in a later minor version only at their end and
 * only with fields whose zero value keeps today's behaviour.  Compare
 * offcopy_version_number() with OFFCOPY_VERSION_NUMBER to detect a library
 * older than the header.
 */
#ifndef OFFCOPY_OFFCOPY_H_
#define OFFCOPY_OFFCOPY_H_

#include <stddef.h>
#include <stdint.h>

#include "offcopy/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ------------------------------------------------------------ */

#define OFFCOPY_VERSION_MAJOR 0
#define OFFCOPY_VERSION_MINOR 1
#define OFFCOPY_VERSION_PATCH 0
#define OFFCOPY_VERSION_STRING "0.1.0"
/* major * 10000 + minor * 100 + patch */
#define OFFCOPY_VERSION_NUMBER \
  (OFFCOPY_VERSION_MAJOR * 10000 + OFFCOPY_VERSION_MINOR * 100 + OFFCOPY_VERSION_PATCH)

/* The version of the library linked in, e.g. "0.1.0" (a static string). */
OFFCOPY_API const char *offcopy_version(void);
/* The same as a number, comparable with OFFCOPY_VERSION_NUMBER. */
OFFCOPY_API int offcopy_version_number(void);

/* ---- Mechanisms and flags ---------------------------------------------- */

/* How bytes moved; the same values as offcopy::Mechanism.  Indexes
 * offcopy_report.bytes_by.  The ladder tries clone, kernel copy, splice,
 * io_uring, read/write in that order (splice was numbered last). */
enum offcopy_mechanism {
  OFFCOPY_MECH_SNAPSHOT = 0,    /* btrfs subvolume snapshot (trees) */
  OFFCOPY_MECH_CLONE = 1,       /* FICLONE / FICLONERANGE: extents shared */
  OFFCOPY_MECH_KERNEL_COPY = 2, /* copy_file_range: server-side / in-kernel */
  OFFCOPY_MECH_URING = 3,       /* io_uring read/write through host memory */
  OFFCOPY_MECH_READ_WRITE = 4,  /* pread/pwrite (read/write on streams) */
  OFFCOPY_MECH_DEVICE = 5,      /* SCSI EXTENDED COPY / token copy (later) */
  OFFCOPY_MECH_SPLICE = 6,      /* splice through a pipe, in the host kernel */
  OFFCOPY_MECH_COUNT = 7
};

/* "snapshot", "clone", "kernel_copy", "uring", "read_write", "device",
 * "splice";
 * NULL for a value out of range.  Static strings. */
OFFCOPY_API const char *offcopy_mechanism_name(int mechanism);

/* As cp's --reflink. */
enum offcopy_reflink {
  OFFCOPY_REFLINK_AUTO = 0,   /* clone where possible, else copy */
  OFFCOPY_REFLINK_ALWAYS = 1, /* clone or fail, writing nothing */
  OFFCOPY_REFLINK_NEVER = 2   /* never clone (skips copy_file_range too) */
};

/* As cp's --sparse. */
enum offcopy_sparse {
  OFFCOPY_SPARSE_AUTO = 0,   /* recreate holes found by SEEK_DATA/SEEK_HOLE */
  OFFCOPY_SPARSE_ALWAYS = 1, /* also turn all-zero blocks into holes */
  OFFCOPY_SPARSE_NEVER = 2   /* write holes out as zeros */
};

/* offcopy::CopyFlags.  Zero-initialised: the defaults. */
struct offcopy_flags {
  /* Nonzero: copy from the source offset to the source's end of file and
   * ignore `len` (sources without a size are read until EOF). */
  int whole_file;
  /* Nonzero: offload only.  When neither clone nor copy_file_range can move
   * the bytes, fail with -EOPNOTSUPP and report.offload_unsupported = 1,
   * having written nothing. */
  int no_fallback;
  int reflink; /* enum offcopy_reflink */
  int sparse;  /* enum offcopy_sparse */
};

/* What offcopy_copy_file does with an existing destination. */
enum offcopy_overwrite {
  OFFCOPY_OVERWRITE_REPLACE = 0,   /* truncate and rewrite it (cp) */
  OFFCOPY_OVERWRITE_FORCE = 1,     /* if it cannot be opened, unlink and
                                      recreate it (cp -f) */
  OFFCOPY_OVERWRITE_NO_CLOBBER = 2 /* leave it alone: -EEXIST */
};

/* offcopy::FileOptions.  Zero-initialised: the defaults. */
struct offcopy_file_options {
  /* flags.whole_file is ignored: a file copy always copies the whole file. */
  struct offcopy_flags flags;
  int overwrite; /* enum offcopy_overwrite */
  int atomic;    /* non-zero: temporary + fsync + rename (FileOptions::atomic) */
  int fsync;     /* non-zero: fsync the copy before reporting it done */
  int verify;    /* non-zero: read both back and compare; -EIO on a difference */
};

/* ---- Reports ------------------------------------------------------------- */

enum offcopy_role {
  OFFCOPY_ROLE_NONE = 0,
  OFFCOPY_ROLE_SOURCE = 1,
  OFFCOPY_ROLE_DESTINATION = 2
};

/* offcopy::ErrorKind: what kind of failure offcopy_report.error is.  A
 * call that failed is OFFCOPY_ERROR_SYSTEM; the others are offcopy's own
 * verdicts, carrying the nearest errno (EOPNOTSUPP, EAGAIN) -- the kind
 * tells them apart from the kernel's own. */
enum offcopy_error_kind {
  OFFCOPY_ERROR_SYSTEM = 0,
  OFFCOPY_ERROR_OFFLOAD_UNSUPPORTED = 1, /* no_fallback, no offload rung could */
  OFFCOPY_ERROR_SOURCE_CHANGED = 2       /* the source kept changing (twice) */
};

#define OFFCOPY_OP_MAX 32       /* size of offcopy_report.op */
#define OFFCOPY_MESSAGE_MAX 256 /* size of offcopy_report.message */

/* How one copy went: offcopy::Report plus, on failure, offcopy::Error.
 * Written in full (every field) by each call that takes one, on success
 * and on failure alike.  A plain value: no pointers, nothing to free. */
struct offcopy_report {
  int64_t bytes_by[OFFCOPY_MECH_COUNT]; /* data bytes moved, per mechanism */
  int64_t hole_bytes;  /* bytes of holes recreated rather than written */
  int64_t bytes_done;  /* data bytes copied (the call's return value on
                          success; on failure what was copied before it) */
  /* The failure; all zero / empty on success. */
  int error;              /* positive errno, 0 on success */
  int offload_unsupported;/* 1: error_kind is OFFCOPY_ERROR_OFFLOAD_UNSUPPORTED */
  int role;               /* enum offcopy_role: which file failed */
  int64_t error_offset;   /* source offset of the failure, -1 if unknown */
  char op[OFFCOPY_OP_MAX];           /* the failing step: "open",
                                        "FICLONE", "copy_file_range", ... */
  char message[OFFCOPY_MESSAGE_MAX]; /* one line for humans, e.g.
      "write 'b': No space left on device (ENOSPC)"; NUL-terminated,
      truncated to fit */
  int error_kind;         /* enum offcopy_error_kind */
};

/* ---- Synchronous copies ------------------------------------------------- */

/* Copies up to `len` bytes from `src_fd` to `dst_fd`, like
 * copy_file_range(2), trying clone, copy_file_range, io_uring and
 * pread/pwrite in that order (offcopy::copy_range):
 *  - a NULL offset pointer uses and advances the file position; a non-NULL
 *    one is read and advanced by the bytes copied, and the file position is
 *    left alone;
 *  - the copy stops short at the source's end of file (not an error);
 *  - the destination is never truncated, and is extended when the range
 *    ends beyond its size;
 *  - FIFOs and character devices may be the source (offset pointer NULL);
 *    an O_APPEND destination (dst_off NULL) is appended to.
 * `flags` may be NULL (defaults); `report_out` may be NULL.
 *
 * Returns the bytes copied (>= 0), or -errno:
 *   -EINVAL   negative len or offset, overlapping ranges in one file,
 *             a flag value out of range
 *   -EBADF    an fd not open for reading / writing
 *   -ESPIPE   an offset pointer for a non-seekable fd
 *   -EISDIR   a directory
 *   -EOPNOTSUPP  with report_out->offload_unsupported == 1: flags asked for
 *             no_fallback and no offload rung could copy (nothing written).
 *             (-EOPNOTSUPP with offload_unsupported == 0 is the kernel's,
 *             e.g. reflink ALWAYS on a filesystem that cannot clone.)
 *   anything the kernel returns: -EIO, -ENOSPC, -EDQUOT, -EFBIG, ...
 * On failure report_out->bytes_done bytes were copied and the offsets (or
 * file positions) advanced by exactly that much.
 * Thread-safety: may be called concurrently on different files. */
OFFCOPY_API int64_t offcopy_copy_range(int src_fd, int64_t *src_off, int dst_fd, int64_t *dst_off,
                                       int64_t len, const struct offcopy_flags *flags,
                                       struct offcopy_report *report_out);

/* Copies the file `src` to the path `dst` (offcopy::copy_file): creates
 * it with the source's mode less the umask, or replaces its contents as
 * options->overwrite says.  If the copy fails and this call created `dst`,
 * `dst` is removed.  `options` and `report_out` may be NULL.
 * Returns the data bytes copied (holes excluded), or -errno:
 *   -EINVAL  src and dst are the same file (nothing touched); bad option
 *   -EISDIR  src is a directory;  -EEXIST  OVERWRITE_NO_CLOBBER and dst exists
 *   -ENOENT, -EACCES, ... from opening either file; kernel errors as above.
 * Thread-safety: may be called concurrently on different files. */
OFFCOPY_API int64_t offcopy_copy_file(const char *src, const char *dst,
                                      const struct offcopy_file_options *options,
                                      struct offcopy_report *report_out);

/* ---- Asynchronous engine ------------------------------------------------ */

/* An engine (offcopy::Engine) owning worker threads and an eventfd.
 * Completions are delivered in poll mode -- when a job finishes,
 * offcopy_engine_fd() becomes readable and offcopy_engine_reap() returns
 * its completion -- or, for a job submitted with a callback
 * (offcopy_engine_submit_file_cb / _range_cb), to that callback.  The engine is created with OnFull::busy: when
 * max_jobs_in_flight jobs (or max_bytes_in_flight bytes) are admitted and
 * not yet reaped, submit fails at once with -EBUSY -- reap, then retry.
 * (A job holds its slot until reaped, so a blocking submit would wait for
 * a loop that is itself blocked in submit.)
 *
 * Thread-safety: every offcopy_engine_* function may be called from any
 * thread, concurrently, except offcopy_engine_free, which must not run
 * concurrently with any other call on the same engine. */
struct offcopy_engine;

struct offcopy_progress;

/* A progress callback: called on the engine worker copying job `id`, with
 * coalesced updates (at most one per progress_interval_ms per job, and a
 * last one when its copying is over, before its completion).  `progress`
 * is valid during the call only.  It must be quick (it delays the copy)
 * and must not call offcopy_engine_free. */
typedef void (*offcopy_progress_fn)(uint64_t id, const struct offcopy_progress *progress,
                                    void *user);

/* Zero-initialised: the defaults. */
struct offcopy_engine_options {
  int workers;                 /* copying threads, at most 256; 0 = 2 */
  int max_jobs_in_flight;      /* 0 = 256 */
  int64_t max_bytes_in_flight; /* 0 = no limit (see offcopy/engine.h) */
  /* What offcopy_engine_free does with unfinished jobs:
   * 0 = cancel them (the default), nonzero = let them finish. */
  int drain_on_free;
  /* Every job's progress, as it goes (NULL: none; offcopy_engine_progress
   * still polls it).  progress_user is handed back to it. */
  offcopy_progress_fn on_progress;
  void *progress_user;
  int progress_interval_ms;  /* 0 = 250 */
};

/* Creates an engine.  On success stores it in *out (owned by the caller,
 * release with offcopy_engine_free) and returns 0.  Errors: -EINVAL
 * (negative option, out == NULL), -EMFILE / -ENFILE / -ENOMEM (eventfd),
 * -EAGAIN (a thread could not be started).  *out is untouched on error. */
OFFCOPY_API int offcopy_engine_new(const struct offcopy_engine_options *options,
                                   struct offcopy_engine **out);

/* Cancels every unfinished job (or lets it finish, if drain_on_free),
 * joins the engine's threads, closes its fd and frees it.  Completions
 * not yet reaped are discarded; completions already reaped stay valid
 * (release them with offcopy_completion_release).  After it returns the
 * engine touches no file and no descriptor of a range job again.
 * NULL is allowed (does nothing). */
OFFCOPY_API void offcopy_engine_free(struct offcopy_engine *engine);

/* Submits a job copying the file `src` to each of the `n_dsts` paths in
 * `dsts`, each as offcopy_copy_file(src, dsts[i], options) would; returns
 * 0 and stores the job id (never 0, never reused) in *id_out (which may be
 * NULL).  The strings are copied before the call returns.
 * Errors: -EBUSY (limits reached), -EINVAL (n_dsts == 0, an empty or NULL
 * path, a bad option), -ESHUTDOWN, -ENOMEM.  Problems with the files are
 * reported per destination in the completion, not here. */
OFFCOPY_API int offcopy_engine_submit_file(struct offcopy_engine *engine, const char *src,
                                           const char *const *dsts, size_t n_dsts,
                                           const struct offcopy_file_options *options,
                                           uint64_t *id_out);

/* One destination of a range job. */
struct offcopy_range_dest {
  int fd;         /* open for writing */
  int64_t offset; /* where to write */
};

/* Submits a job copying `len` bytes at `src_off` of `src_fd` to each
 * destination, each as offcopy_copy_range with its own offset copies would
 * (no file position moves; destinations are never truncated).  With
 * flags->whole_file the copy runs to the source's end of file.  The
 * `dsts` array is copied before the call returns.
 * Ownership: the descriptors are BORROWED.  Keep them open, and do not
 * reuse their numbers for other files, until the job's completion has been
 * reaped (or offcopy_engine_free has returned); the engine never closes
 * them.  Errors: as offcopy_engine_submit_file (-EINVAL also for a
 * negative fd, offset or length). */
OFFCOPY_API int offcopy_engine_submit_range(struct offcopy_engine *engine, int src_fd,
                                            int64_t src_off, int64_t len,
                                            const struct offcopy_range_dest *dsts, size_t n_dsts,
                                            const struct offcopy_flags *flags, uint64_t *id_out);

/* Asks job `id` to stop at its next chunk boundary; it then completes with
 * -ECANCELED in every unfinished destination (a queued job never starts).
 * Returns 0 when the request was recorded (a job finishing its last chunk
 * may still complete normally), -ENOENT when the job is unknown or has
 * already completed.  Nothing is written after the completion is queued. */
OFFCOPY_API int offcopy_engine_cancel(struct offcopy_engine *engine, uint64_t id);

/* A job's progress over all its destinations. */
struct offcopy_progress {
  int64_t bytes_done;  /* finished bytes, holes included */
  int64_t bytes_total; /* source length x destinations; -1 while unknown */
  int mechanism;       /* enum offcopy_mechanism moving bytes now, or -1 */
};

/* Stores a snapshot of job `id`'s progress in *out and returns 0, or
 * returns -ENOENT once the job has completed (or for an unknown id). */
OFFCOPY_API int offcopy_engine_progress(const struct offcopy_engine *engine, uint64_t id,
                                        struct offcopy_progress *out);

/* An eventfd, readable (level-triggered) while completions wait inside the
 * engine; watch it with poll/epoll/select.  Owned by the engine: do not
 * read, write or close it.  Valid until offcopy_engine_free. */
OFFCOPY_API int offcopy_engine_fd(const struct offcopy_engine *engine);

/* One destination's result. */
struct offcopy_dest_result {
  int status;    /* 0, or -errno (-ECANCELED when cancelled) */
  int64_t bytes; /* data bytes copied (report.bytes_done) */
  struct offcopy_report report;
};

/* A finished job.  The results array belongs to the completion: release
 * it with offcopy_completion_release (not free()). */
struct offcopy_completion {
  uint64_t id;
  size_t n_results; /* = the job's number of destinations */
  struct offcopy_dest_result *results; /* in the job's destination order */
};

/* Moves up to `max` finished jobs into out[0..n) and returns n (0 when none
 * is waiting; it never blocks), or -EINVAL (out NULL with max > 0),
 * -ENOMEM.  Each job is returned exactly once, by one reap call.
 * Important: the engine hands completions over in batches, so the fd can
 * be unreadable while some are still waiting here.  When reap returns
 * `max`, call it again before going back to poll; when it returns less
 * than `max`, every waiting completion has been taken.  Reaping frees the
 * jobs' slots.  Release each returned completion.  (A `max` above 2^20 is
 * taken as 2^20, so the count fits the int result.) */
OFFCOPY_API int offcopy_engine_reap(struct offcopy_engine *engine, struct offcopy_completion *out,
                                    size_t max);

/* A completion callback: called once per job on an engine worker thread
 * with the job's completion, which is valid during the call only (the
 * engine releases it afterwards: do not call offcopy_completion_release on
 * it).  The job's slot is free when it runs, so it may submit again; it
 * must not call offcopy_engine_free. */
typedef void (*offcopy_done_fn)(const struct offcopy_completion *completion, void *user);

/* As offcopy_engine_submit_file and offcopy_engine_submit_range, but the
 * job's completion goes to `done` (with `user`), not to the fd and
 * offcopy_engine_reap.  Errors as theirs, and -EINVAL for a NULL `done`;
 * on error `done` is never called.  If the completion cannot be built (out
 * of memory), `done` gets one with n_results 0. */
OFFCOPY_API int offcopy_engine_submit_file_cb(struct offcopy_engine *engine, const char *src,
                                              const char *const *dsts, size_t n_dsts,
                                              const struct offcopy_file_options *options,
                                              offcopy_done_fn done, void *user,
                                              uint64_t *id_out);
OFFCOPY_API int offcopy_engine_submit_range_cb(struct offcopy_engine *engine, int src_fd,
                                               int64_t src_off, int64_t len,
                                               const struct offcopy_range_dest *dsts,
                                               size_t n_dsts, const struct offcopy_flags *flags,
                                               offcopy_done_fn done, void *user,
                                               uint64_t *id_out);

/* Frees what the completion owns and zeroes it.  Safe on a zeroed or
 * already released completion; NULL is allowed. */
OFFCOPY_API void offcopy_completion_release(struct offcopy_completion *completion);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* OFFCOPY_OFFCOPY_H_ */
