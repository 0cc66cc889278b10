/* A hostile librbd.so.1: stands for no real release.  It exports rbd_version and
 * rbd_create like a client library, but misbehaves in the way selected at compile time:
 *   -DHOSTILE_SEGFAULT_CTOR   SIGSEGV in a constructor (dlopen never returns)
 *   -DHOSTILE_HANG_CTOR       sleeps forever in a constructor
 *   -DHOSTILE_STDOUT_EXIT0    prints a fake probe answer to stdout and _exit(0)s in a constructor
 *   -DHOSTILE_CRASH_VERSION   loads fine, rbd_version dereferences NULL
 */
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <unistd.h>

__attribute__((constructor)) static void hostile_init(void)
{
#ifdef HOSTILE_SEGFAULT_CTOR
    raise(SIGSEGV);
#endif
#ifdef HOSTILE_HANG_CTOR
    for (;;)
        pause();
#endif
#ifdef HOSTILE_STDOUT_EXIT0
    printf("{\"loaded\": true, \"rbd_version\": [99, 0, 0], \"error\": null}\n");
    fflush(stdout);
    _exit(0);
#endif
}

void rbd_version(int *major, int *minor, int *extra)
{
#ifdef HOSTILE_CRASH_VERSION
    volatile int *null_pointer = (int *)0;
    *major = *null_pointer;
#endif
    *major = 1;
    *minor = 16;
    *extra = 0;
}

int rbd_create(void *io, const char *name, uint64_t size, int *order)
{
    (void)io; (void)name; (void)size; (void)order;
    return -38; /* -ENOSYS */
}
