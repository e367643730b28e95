#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

#if canImport(Glibc)
private let systemWrite = Glibc.write
#else
private let systemWrite = Darwin.write
#endif

/// Writes that a crash, a kill or a full disk leave in a known state. A file's name appears
/// only once its bytes are on disk: written beside it as `NAME.partial`, fsynced, renamed,
/// and the folder fsynced so the rename itself survives a power cut. A failed write removes
/// its partial file and throws the system's reason ("No space left on device") with the path.
public enum DurableFile {
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try write(to: path) { put in _ = bytes.withUnsafeBytes { put($0) } }
    }

    public static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }

    /// `source`'s bytes under `path`.
    public static func copy(_ source: String, to path: String) throws {
        guard let data = FileManager.default.contents(atPath: source) else {
            throw CheckpointError.io(path: source, reason: "cannot read: \(String(cString: strerror(errno)))")
        }
        try write([UInt8](data), to: path)
    }

    /// Streams through `body`, which calls `put` with each piece; `put` returns false once a
    /// write failed (later calls do nothing).
    public static func write(to path: String, _ body: (_ put: (UnsafeRawBufferPointer) -> Bool) -> Void) throws {
        let partial = path + ".partial"
        let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CheckpointError.io(path: path, reason: "cannot write: \(String(cString: strerror(errno)))") }
        var failure: Int32 = 0
        body { bytes in
            var rest = bytes
            while failure == 0 && !rest.isEmpty {
                let n = systemWrite(fd, rest.baseAddress!, rest.count)
                if n < 0 && errno == EINTR { continue }
                // A short write with no error is the disk filling up; the next call says so.
                if n < 0 { failure = errno } else { rest = UnsafeRawBufferPointer(rebasing: rest[n...]) }
            }
            return failure == 0
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        // Some file systems (NFS) report a full disk only when the file is closed.
        if close(fd) != 0 && failure == 0 { failure = errno }
        if failure == 0 && rename(partial, path) != 0 { failure = errno }
        guard failure == 0 else {
            unlink(partial)
            throw CheckpointError.io(path: path, reason: "cannot write: \(String(cString: strerror(failure)))")
        }
        try syncDirectory(of: path)
    }

    /// fsyncs the folder holding `path`, so a rename or creation in it is durable.
    public static func syncDirectory(of path: String) throws {
        try syncDirectory((path as NSString).deletingLastPathComponent)
    }

    public static func syncDirectory(_ folder: String) throws {
        let fd = open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.io(path: folder, reason: "cannot open folder: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw CheckpointError.io(path: folder, reason: "cannot sync folder: \(String(cString: strerror(errno)))") }
    }
}
