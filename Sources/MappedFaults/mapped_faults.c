// The table and the SIGBUS handler of MappedFaults.h. Everything the handler touches is a
// lock-free atomic or a raw syscall: it runs inside whatever code faulted, possibly while
// that thread holds malloc's or the dynamic loader's locks.
#define _GNU_SOURCE
#include "MappedFaults.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct {
    atomic_int used;          // claimed by mf_register (compare-and-swap)
    atomic_uintptr_t start;   // 0 while the slot is being filled or is free
    atomic_uintptr_t end;
    atomic_ulong faults;
} mf_range;

static mf_range table[MF_SLOTS];
static atomic_int installed;
static uintptr_t page_size;

int mf_register(const void *start, size_t length) {
    if (start == NULL || length == 0) return -1;
    for (int i = 0; i < MF_SLOTS; i++) {
        int expected = 0;
        if (!atomic_compare_exchange_strong(&table[i].used, &expected, 1)) continue;
        atomic_store(&table[i].faults, 0);
        atomic_store(&table[i].end, (uintptr_t)start + length);
        // Published last: the handler reads start first, so a nonzero start has its end.
        atomic_store_explicit(&table[i].start, (uintptr_t)start, memory_order_release);
        return i;
    }
    return -1;
}

void mf_unregister(int slot) {
    if (slot < 0 || slot >= MF_SLOTS) return;
    atomic_store(&table[slot].start, 0);
    atomic_store(&table[slot].end, 0);
    atomic_store(&table[slot].used, 0);
}

unsigned long mf_faults(int slot) {
    if (slot < 0 || slot >= MF_SLOTS) return 0;
    return atomic_load(&table[slot].faults);
}

static void say(const char *text) {
    size_t n = strlen(text);
    while (n > 0) {
        ssize_t w = write(2, text, n);
        if (w <= 0) return;
        text += w;
        n -= (size_t)w;
    }
}

/// The slot whose range holds addr, or -1.
static int slot_of(uintptr_t addr) {
    for (int i = 0; i < MF_SLOTS; i++) {
        uintptr_t start = atomic_load_explicit(&table[i].start, memory_order_acquire);
        if (start == 0 || addr < start) continue;
        if (addr < atomic_load(&table[i].end)) return i;
    }
    return -1;
}

static void on_sigbus(int sig, siginfo_t *info, void *context) {
    (void)context;
    int saved = errno;
    uintptr_t addr = (uintptr_t)info->si_addr;
    // BUS_ADRERR is a page past the end of a mapped file; alignment or hardware errors
    // (other codes) are not ours to hide.
    int slot = info->si_code == BUS_ADRERR ? slot_of(addr) : -1;
    if (slot >= 0) {
        // A file only shrinks from its end, so every page from the faulting one to the end
        // of the range is lost: one zero mapping over all of them, not one fault per page.
        uintptr_t first = addr & ~(page_size - 1);
        uintptr_t last = (atomic_load(&table[slot].end) + page_size - 1) & ~(page_size - 1);
        // A raw syscall: sanitizers intercept mmap(3), and their interceptors are not
        // async-signal-safe.
        long r = syscall(SYS_mmap, (void *)first, (size_t)(last - first), PROT_READ,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (r != -1) {
            atomic_fetch_add(&table[slot].faults, 1);
            errno = saved;
            return;  // the faulting instruction runs again and reads zeros
        }
    }
    say(slot >= 0
        ? "polycom: SIGBUS — a memory-mapped weights file was truncated while being read and its pages could not be replaced; "
          "restart, or use --no-mmap to keep a private copy\n"
        : "polycom: SIGBUS outside the memory-mapped weights (a bad memory access, not a truncated weights file)\n");
    // The default action, with the original fault: a returning fault re-faults under it;
    // a SIGBUS sent by kill(2) is raised again (blocked until this handler returns).
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    if (info->si_code <= 0) raise(sig);
    errno = saved;
}

int mf_install(void) {
    if (atomic_load(&installed)) return 0;
    page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, NULL) != 0) return errno;
    atomic_store(&installed, 1);
    return 0;
}

int mf_installed(void) { return atomic_load(&installed); }
