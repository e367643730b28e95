import Kernels
import MappedFaults
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// How weight files are brought into memory.
public enum WeightLoading: Sendable, Equatable {
    /// Mapped read-only: loads at once and shares the page cache, but the mapping follows
    /// the file, so a file truncated underneath turns the next read of a lost page into
    /// SIGBUS, and one overwritten in place changes the weights. Servers check the files
    /// before each request (`FileSnapshot`) and refuse work once one changed; a file cut
    /// during a request is a counted fault under `MappedFaultGuard` (`readFaults`).
    case mapped
    /// Read into private memory: slower to load and not shared, but immune to whatever
    /// happens to the file afterwards.
    case copied
}

/// A whole file in memory, mapped or copied; released when the last tensor view goes.
public final class MappedFile: TensorStorage, @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    public let loading: WeightLoading
    /// The file as it was opened, to tell later whether it changed.
    public let snapshot: FileSnapshot
    /// This mapping's entry in the SIGBUS handler's table; -1 when copied, empty or unguarded.
    private var faultSlot: Int32 = -1
    /// Bytes before `bytes` in the copy's allocation (`alignedOffset`).
    private var lead = 0

    /// `alignedOffset`: a file offset that a copy places on a 64-byte boundary (a
    /// safetensors file's data start, `8 + header length`, is only 8-byte aligned: weight
    /// rows that straddle cache lines split every 64-byte load in two). A mapping starts on a
    /// page and keeps the file's own alignment.
    public init(path: String, loading: WeightLoading = .mapped, alignedOffset: Int = 0) throws {
        self.path = path
        self.loading = loading
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CheckpointError.io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CheckpointError.io(path: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError.io(path: path, reason: "not a regular file") }
        snapshot = FileSnapshot(path: path, info)
        let size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        switch loading {
        case .mapped:
            guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
                throw CheckpointError.io(path: path, reason: "mmap failed: " + String(cString: strerror(errno)))
            }
            bytes = UnsafeRawBufferPointer(start: base, count: size)
            faultSlot = mf_register(base, size)
            // The weights will all be read by the first forward pass: let the kernel start
            // reading them in now, in the background, instead of page by page on first use.
            _ = madvise(base, size, MADV_WILLNEED)
        case .copied:
            // In huge pages, which decode reads faster than the page cache's 4 KiB pages.
            lead = (64 - alignedOffset % 64) % 64
            guard let allocation = WeightMemory.allocate(lead + size) else {
                throw CheckpointError.io(path: path, reason: "cannot allocate \(size) bytes to copy the file")
            }
            let base = allocation + lead
            var done = 0
            while done < size {
                let n = read(fd, base + done, size - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    let reason = n == 0 ? "file shrank while being read (\(done) of \(size) bytes)" : String(cString: strerror(errno))
                    WeightMemory.deallocate(allocation, bytes: lead + size)
                    throw CheckpointError.io(path: path, reason: reason)
                }
                done += n
            }
            bytes = UnsafeRawBufferPointer(start: base, count: size)
        }
    }

    /// Reads of pages lost to truncation that `MappedFaultGuard` turned into zeros: nonzero
    /// means what was computed from this file since is wrong (and will stay wrong).
    public var readFaults: Int { Int(mf_faults(faultSlot)) }

    deinit {
        mf_unregister(faultSlot)
        guard let base = bytes.baseAddress else { return }
        switch loading {
        case .mapped: munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        case .copied: WeightMemory.deallocate(UnsafeMutableRawPointer(mutating: base) - lead, bytes: lead + bytes.count)
        }
    }
}
