import Checkpoint
import Dispatch
import Foundation
import XCTest

/// Reads of a mapped file truncated underneath, with and without `MappedFaultGuard`. The
/// cases that must end a process run in a forked child.
final class MappedFaultGuardTests: XCTestCase {
    private var path = ""
    private let page = Int(sysconf(Int32(_SC_PAGESIZE)))

    override func setUpWithError() throws {
        path = NSTemporaryDirectory() + "polycom-fault-\(UUID().uuidString)"
        // Page p holds the byte p + 1 throughout: a zero read back can only be a lost page.
        try Data((0..<6 * page).map { UInt8($0 / page + 1) }).write(to: URL(fileURLWithPath: path))
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Cuts the file to 2.5 pages: pages 3 to 5 of a mapping made before are lost.
    private func cut() {
        XCTAssertEqual(truncate(path, off_t(2 * page + page / 2)), 0)
    }

    func testWithoutTheHandlerAReadPastTheNewEndKillsTheProcess() throws {
        let file = try MappedFile(path: path)
        cut()
        let base = try XCTUnwrap(file.bytes.baseAddress), offset = 4 * page
        let child = Self.inChild {
            signal(SIGBUS, SIG_DFL)
            _exit(Int32(base.load(fromByteOffset: offset, as: UInt8.self)))
        }
        XCTAssertEqual(child.signal, SIGBUS, "the child exited with \(String(describing: child.exitCode))")
    }

    func testWithTheHandlerLostPagesReadAsZerosAndCountAFaultOnTheirFile() throws {
        try MappedFaultGuard.install()
        XCTAssertTrue(MappedFaultGuard.isInstalled)
        let file = try MappedFile(path: path)
        let bystander = try MappedFile(path: path, loading: .mapped)
        let bytes = file.bytes
        cut()
        XCTAssertEqual(bytes[10], 1)
        XCTAssertEqual(bytes[2 * page + 10], 3, "the page holding the new end is kept")
        XCTAssertEqual(bytes[2 * page + page / 2 + 10], 0, "past the end within that page: zeros, from the kernel")
        XCTAssertEqual(file.readFaults, 0)

        // Lost pages, read from several threads at once, as the kernels' workers do.
        let seen = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 3)
        defer { seen.deallocate() }
        seen.initialize(repeating: 0xFF)
        DispatchQueue.concurrentPerform(iterations: 3) { i in seen[i] = bytes[(3 + i) * page + 7] }
        XCTAssertEqual(Array(seen), [0, 0, 0])
        let faults = file.readFaults
        XCTAssertTrue((1...3).contains(faults), "\(faults) faults")
        XCTAssertEqual(bytes[5 * page + 1], 0)
        XCTAssertEqual(file.readFaults, faults, "the zero pages stay: later reads do not fault again")
        XCTAssertEqual(bytes[page + 1], 2, "pages before the cut keep their contents")
        XCTAssertEqual(bystander.readFaults, 0, "faults are counted on the mapping that took them")
    }

    func testAFaultOutsideTheRegisteredRangesIsNotSwallowed() throws {
        try MappedFaultGuard.install()
        // The same file mapped behind MappedFile's back: not in the handler's table.
        let fd = open(path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        let base = try XCTUnwrap(mmap(nil, 6 * page, PROT_READ, MAP_PRIVATE, fd, 0))
        close(fd)
        XCTAssertNotEqual(base, MAP_FAILED)
        defer { munmap(base, 6 * page) }
        cut()
        let offset = 4 * page
        let child = Self.inChild { _exit(Int32(UnsafeRawPointer(base).load(fromByteOffset: offset, as: UInt8.self))) }
        XCTAssertEqual(child.signal, SIGBUS, "the child exited with \(String(describing: child.exitCode))")
        XCTAssertTrue(child.stderr.contains("SIGBUS outside the memory-mapped weights"), child.stderr)
    }

    /// A released mapping gives its slot back: with more files opened over time than the
    /// table has slots, the last one is still guarded.
    func testReleasedMappingsFreeTheirSlots() throws {
        try MappedFaultGuard.install()
        for _ in 0..<1_500 { _ = try MappedFile(path: path) }
        let file = try MappedFile(path: path)
        cut()
        XCTAssertEqual(file.bytes[4 * page], 0)
        XCTAssertGreaterThan(file.readFaults, 0)
    }

    /// Runs `body` in a forked child, which must end in `_exit`. Only loads and
    /// async-signal-safe calls belong in it: the child has this thread alone, and a lock
    /// another thread held at the fork stays held there.
    static func inChild(_ body: () -> Never) -> (signal: Int32?, exitCode: Int32?, stderr: String) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return (nil, nil, "pipe failed") }
        let pid = fork()
        if pid == 0 {
            close(fds[0])
            dup2(fds[1], 2)
            body()
        }
        close(fds[1])
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            output += chunk[0..<n]
        }
        close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let stderr = String(decoding: output, as: UTF8.self)
        // The <sys/wait.h> macros, which Swift does not import.
        let signal = status & 0x7F
        return signal == 0 ? (nil, (status >> 8) & 0xFF, stderr) : (signal, nil, stderr)
    }
}
