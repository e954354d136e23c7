/*
 * Zhifa links jemalloc (Debian's libjemalloc-dev) as its allocator. Swift allocates many small
 * objects that are freed on other threads (poll threads, delivery reports), which glibc's malloc
 * handles slowly; jemalloc's thread caches do not. Freed pages are kept for 30 s and purged by a
 * background thread instead of being returned and faulted in again on every fetch buffer.
 */
#include "zhifa_allocator.h"

const char *malloc_conf = "background_thread:true,dirty_decay_ms:30000,muzzy_decay_ms:30000";

int zhifa_allocator_linked(void) { return 1; }
