/* Test-only: the few glibc-only symbols a glibc-built libstdc++.a refers to, for
 * musl. Linked with libstdc++.a into a libstdc++.so.6 that lets the musl build run in
 * a musl-only root here, where no distribution libstdc++ for musl exists. Not shipped. */
#include <stddef.h>
#include <time.h>
#include <locale.h>
#include <sys/random.h>
char __libc_single_threaded = 0;
int _dl_find_object(void *pc, void *result) { (void)pc; (void)result; return -1; }
unsigned int arc4random(void) { unsigned int v = 0; getrandom(&v, sizeof v, 0); return v; }
size_t __strftime_l(char *s, size_t max, const char *fmt, const struct tm *tm, locale_t loc) { return strftime_l(s, max, fmt, tm, loc); }
int __cxa_thread_atexit_impl(void (*dtor)(void *), void *obj, void *dso) { (void)dtor; (void)obj; (void)dso; return 0; }
