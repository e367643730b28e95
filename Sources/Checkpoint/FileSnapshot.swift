#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// What identifies a file's contents cheaply: device, inode, size and modification time.
/// A file truncated, overwritten in place or replaced by another changes at least one.
public struct FileSnapshot: Sendable, Equatable {
    public let path: String
    let device: UInt64
    let inode: UInt64
    public let size: Int
    let modifiedSeconds: Int
    let modifiedNanoseconds: Int

    init(path: String, _ info: stat) {
        self.path = path
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int(info.st_size)
        #if canImport(Glibc)
        modifiedSeconds = Int(info.st_mtim.tv_sec)
        modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
        #else
        modifiedSeconds = Int(info.st_mtimespec.tv_sec)
        modifiedNanoseconds = Int(info.st_mtimespec.tv_nsec)
        #endif
    }

    /// How the file at `path` differs from this snapshot now, or nil if it does not.
    /// One `stat` call: cheap enough to run before every request.
    public func change() -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "\(path) is gone (\(String(cString: strerror(errno))))" }
        let now = FileSnapshot(path: path, info)
        if now.device != device || now.inode != inode { return "\(path) was replaced by another file" }
        if now.size < size { return "\(path) was truncated from \(size) to \(now.size) bytes" }
        if now.size != size { return "\(path) grew from \(size) to \(now.size) bytes" }
        if now.modifiedSeconds != modifiedSeconds || now.modifiedNanoseconds != modifiedNanoseconds {
            return "\(path) was modified in place"
        }
        return nil
    }
}
