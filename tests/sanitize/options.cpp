// The sanitizer runtimes' options for the tests of a HONE_SANITIZE build (tests/sanitize/README.md).
// The runtimes call these hooks before main, so the options apply under ctest, when a test binary
// is run by hand and during gtest's test discovery at build time; an ASAN_OPTIONS, UBSAN_OPTIONS or
// LSAN_OPTIONS in the environment still overrides them one by one.

#ifndef HONE_LSAN_SUPPRESSIONS
#error "HONE_LSAN_SUPPRESSIONS: the path of tests/sanitize/lsan.supp (tests/sanitize/sanitize.cmake)"
#endif

#define HONE_SANITIZER_HOOK extern "C" __attribute__((visibility("default"), used, no_sanitize("address", "undefined")))

// detect_stack_use_after_return: also a pointer into a returned frame.
// check_initialization_order, strict_init_order: a global constructor that reads another file's global.
// strict_string_checks: string functions read up to the terminator, not only what they return.
HONE_SANITIZER_HOOK const char* __asan_default_options() {
  return "detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:"
         "strict_string_checks=1";
}

// Every finding is fatal already (-fno-sanitize-recover); print where it happened.
HONE_SANITIZER_HOOK const char* __ubsan_default_options() { return "print_stacktrace=1:halt_on_error=1"; }

HONE_SANITIZER_HOOK const char* __lsan_default_options() { return "suppressions=\"" HONE_LSAN_SUPPRESSIONS "\""; }
