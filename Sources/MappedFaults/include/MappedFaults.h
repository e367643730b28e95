// MappedFaults: survive reads of a memory-mapped file that was truncated underneath.
//
// A read past the end of a shrunken mapped file is a SIGBUS, which cannot be turned into
// a Swift error. These functions keep a fixed table of the mapped ranges and a SIGBUS
// handler that, for a fault inside one, maps zero pages over the lost part and counts the
// fault: the faulting read (on whatever thread) is retried and sees zeros, and whoever
// owns the range checks the count after the work that read it and discards the result.
#ifndef MAPPED_FAULTS_H
#define MAPPED_FAULTS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Most ranges registered at once; a mapping registered beyond them is unguarded (-1).
enum { MF_SLOTS = 1024 };

/// Registers [start, start + length) and returns its slot, or -1 when the table is full.
int mf_register(const void *start, size_t length);
/// Frees a slot before its range is unmapped; -1 is ignored.
void mf_unregister(int slot);
/// Faults in the slot's range turned into zero pages since it was registered (0 for -1).
unsigned long mf_faults(int slot);

/// Installs the process-wide SIGBUS handler (once; later calls do nothing). 0 on success,
/// else the errno of sigaction. Only for programs that check `mf_faults` after reading:
/// without the check a truncated file silently reads as zeros.
int mf_install(void);
/// Whether `mf_install` succeeded in this process.
int mf_installed(void);

#ifdef __cplusplus
}
#endif

#endif
