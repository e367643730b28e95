#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest

extension XCTestCase {
    /// A tmpfs of `bytes` (rounded up to pages) mounted at a new folder, for drills where the
    /// disk fills up; unmounted when the test ends, pass or fail. Nil where this process may
    /// not mount (not root, or no CAP_SYS_ADMIN in a container).
    public func smallFileSystem(bytes: Int) -> String? {
        let mountPoint = temporaryDirectory() + "/disk"
        guard getuid() == 0, (try? FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)) != nil,
              Self.runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=\((bytes + 4095) / 4096 * 4096)", "tmpfs", mountPoint]) else { return nil }
        // Lazy: still unmounts if a failed test left a file open there.
        addTeardownBlock { _ = Self.runTool("/bin/umount", ["-l", mountPoint]) }
        return mountPoint
    }

    private static func runTool(_ path: String, _ arguments: [String]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        (process.standardOutput, process.standardError) = (FileHandle.nullDevice, FileHandle.nullDevice)
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}
