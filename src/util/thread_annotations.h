// Clang's thread-safety attributes, so that "guarded by mu_" is checked
// by the compiler (-Wthread-safety, scripts/test-clang-tsa.sh) instead of
// only written down.  See https://clang.llvm.org/docs/ThreadSafetyAnalysis.html.
//
// The macros expand to nothing on a compiler without the attributes (g++,
// which builds the release), so they cost nothing there.
//
// Why the OFFCOPY_ prefix: the bare names (GUARDED_BY, REQUIRES, ...) are
// defined by other projects' headers too (leveldb's, older abseil's, a
// few system libraries'), and a translation unit that saw two definitions
// would get whichever came last, or a redefinition warning.  abseil moved
// from the bare names to ABSL_ for the same reason.
//
// Only the attributes offcopy uses are here; add one when it is needed.
#ifndef OFFCOPY_UTIL_THREAD_ANNOTATIONS_H_
#define OFFCOPY_UTIL_THREAD_ANNOTATIONS_H_

#if defined(__clang__)
#define OFFCOPY_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define OFFCOPY_THREAD_ANNOTATION_(x)
#endif

// On a class: its objects are locks (capabilities) named `x` in messages.
#define OFFCOPY_CAPABILITY(x) OFFCOPY_THREAD_ANNOTATION_(capability(x))
// On a class: an RAII object that holds a capability for its lifetime.
#define OFFCOPY_SCOPED_CAPABILITY OFFCOPY_THREAD_ANNOTATION_(scoped_lockable)

// On a data member: read or written only with capability `x` held.
#define OFFCOPY_GUARDED_BY(x) OFFCOPY_THREAD_ANNOTATION_(guarded_by(x))

// On a function: the caller must hold the capabilities (and keeps them).
#define OFFCOPY_REQUIRES(...) OFFCOPY_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
// On a function: the caller must not hold them (the function takes them).
#define OFFCOPY_EXCLUDES(...) OFFCOPY_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))

// On a function: it takes / releases the capabilities (none named: `this`).
#define OFFCOPY_ACQUIRE(...) OFFCOPY_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define OFFCOPY_RELEASE(...) OFFCOPY_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
// On a function returning bool: it takes the capabilities when it returns
// the first argument (OFFCOPY_TRY_ACQUIRE(true) for a try_lock()).
#define OFFCOPY_TRY_ACQUIRE(...) OFFCOPY_THREAD_ANNOTATION_(try_acquire_capability(__VA_ARGS__))
// On a function: after it returns, the caller is taken to hold the
// capability (a promise the function checks, or the programmer makes).
#define OFFCOPY_ASSERT_CAPABILITY(x) OFFCOPY_THREAD_ANNOTATION_(assert_capability(x))

// On a function: not analysed at all.  The escape hatch, for a correct
// pattern the analysis cannot follow; every use says why next to it.
#define OFFCOPY_NO_THREAD_SAFETY_ANALYSIS OFFCOPY_THREAD_ANNOTATION_(no_thread_safety_analysis)

#endif  // OFFCOPY_UTIL_THREAD_ANNOTATIONS_H_
