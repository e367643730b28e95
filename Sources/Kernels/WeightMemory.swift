#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Memory for weight matrices: zeroed, 64-byte aligned, and from 2 MiB up in 2 MiB pages
/// where the kernel offers them (transparent huge pages, asked for with MADV_HUGEPAGE, as
/// the usual `madvise` mode only gives them on request).
///
/// Decode streams every weight once per token. On 4 KiB pages a 1 GB matrix set is 250,000
/// pages: the hardware prefetchers stop at each page's end and every page costs a TLB miss,
/// and batch-1 decode measured 8–11% slower from a file mapping (page cache, 4 KiB pages)
/// than from a copy in 2 MiB pages, the same kernels alternating on one machine.
public enum WeightMemory {
    static let hugePage = 2 << 20

    /// `bytes` zeroed bytes (at least one), or nil when the system has no memory for them.
    public static func allocate(_ bytes: Int) -> UnsafeMutableRawPointer? {
        let size = max(bytes, 1)
        guard size >= hugePage else {
            var raw: UnsafeMutableRawPointer?
            guard posix_memalign(&raw, 64, size) == 0, let raw else { return nil }
            memset(raw, 0, size)
            return raw
        }
        // Over-allocate by a page, keep the 2 MiB-aligned span and return the rest, so that
        // the whole span can be backed by huge pages and `deallocate` unmaps exactly it.
        let span = rounded(size), total = span + hugePage
        guard let m = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), m != MAP_FAILED else {
            return nil
        }
        let start = (Int(bitPattern: m) + hugePage - 1) & ~(hugePage - 1), head = start - Int(bitPattern: m)
        if head > 0 { munmap(m, head) }
        if hugePage - head > 0 { munmap(UnsafeMutableRawPointer(bitPattern: start + span), hugePage - head) }
        let base = UnsafeMutableRawPointer(bitPattern: start)!
        _ = madvise(base, span, MADV_HUGEPAGE) // advice only: without huge pages it is ordinary memory
        return base
    }

    /// Releases what `allocate(bytes)` returned.
    public static func deallocate(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        let size = max(bytes, 1)
        if size >= hugePage { munmap(pointer, rounded(size)) } else { free(pointer) }
    }

    private static func rounded(_ size: Int) -> Int { (size + hugePage - 1) / hugePage * hugePage }
}
