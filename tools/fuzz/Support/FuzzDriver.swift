import Foundation

// What every fuzz target shares: the hand-over to libFuzzer's driver, the fixtures' paths,
// and a scratch file for the parsers that read a path.

@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                             _ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// SwiftPM links an executable's entry point as `<target>_main`; each target's one hands
/// its arguments and its `LLVMFuzzerTestOneInput` to libFuzzer here (whose own `main` is
/// then not linked in).
public func runFuzzer(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                      _ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32 {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, body)
}

/// A path under the repository's Tests/Fixtures, found from this file's own location, so a
/// target runs from any directory.
public func fixture(_ relative: String) -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()  // tools/fuzz/Support
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent("Tests/Fixtures").appendingPathComponent(relative).path
}

/// The input bytes, which libFuzzer may pass as (nil, 0).
public func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// One file per process, rewritten for every input: for parsers that only read paths.
public let scratchPath = NSTemporaryDirectory() + "/polycom-fuzz-\(getpid()).jsonl"

private let removeScratchAtExit: Void = { atexit { unlink(scratchPath) } }()

public func writeScratch(_ input: [UInt8]) {
    removeScratchAtExit
    guard FileManager.default.createFile(atPath: scratchPath, contents: Data(input)) else {
        preconditionFailure("cannot write \(scratchPath)")
    }
}
