import Foundation
import XCTest

/// Runs the built `polycom` executable as a user would.
extension XCTestCase {
    struct RunResult { let status: Int32; let stdout: String; let stderr: String }

    func polycom(_ arguments: String...) throws -> RunResult { try polycom(arguments) }

    /// `environment` changes the test's own environment: a nil value removes the variable;
    /// `directory` is the working directory (the test's own when nil).
    func polycom(_ arguments: [String], environment: [String: String?] = [:], directory: String? = nil) throws -> RunResult {
        try runProcess(Bundle.main.bundleURL.appendingPathComponent("polycom").path, arguments,
                       environment: environment, directory: directory)
    }

    func runProcess(_ executable: String, _ arguments: [String], environment: [String: String?] = [:],
                    directory: String? = nil) throws -> RunResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Both pipes at once: read one to its end first and a child that fills the other's
        // 64 KiB buffer (a LeakSanitizer report on stderr did) blocks, and so does the test.
        let stderrRead = DispatchGroup()
        nonisolated(unsafe) var stderr = Data()
        DispatchQueue.global().async(group: stderrRead) { stderr = err.fileHandleForReading.readDataToEndOfFile() }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        stderrRead.wait()
        process.waitUntilExit()
        return RunResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }
}
