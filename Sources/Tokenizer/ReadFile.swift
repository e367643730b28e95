import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file's bytes. Only a missing file is "not found": one that exists but cannot be
/// read says why (permission denied, a directory), which is what its owner needs to know.
func readFile(_ url: URL) throws -> Data {
    let path = url.path
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else {
        let code = errno
        if code == ENOENT { throw TokenizerError.fileNotFound(path) }
        throw TokenizerError.unreadable(path: path, reason: TokenizerError.reason(errno: code))
    }
    defer { close(fd) }
    var info = stat()
    if fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
        throw TokenizerError.unreadable(path: path, reason: "it is a directory")
    }
    do {
        return try FileHandle(fileDescriptor: fd, closeOnDealloc: false).readToEnd() ?? Data()
    } catch {
        throw TokenizerError.unreadable(path: path, reason: "\(error)")
    }
}
