@testable import HTTP
import XCTest

/// The channel on its own, driven the way the server drives it.
final class HTTPStreamUnitTests: XCTestCase {
    private func drain(_ stream: HTTPStream, chunk: Int = 5) -> (String, HTTPStream.ReadResult) {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            let result = buffer.withUnsafeMutableBytes {
                stream.read(into: $0, waiting: .block(pollInterval: 0.01), peerClosed: { false })
            }
            guard case .bytes(let n) = result else { return (String(decoding: out, as: UTF8.self), result) }
            out += buffer[0..<n]
        }
    }

    func testReadsEverythingThenEnd() {
        let stream = HTTPStream()
        stream.writeEvent(data: "one\ntwo", event: "delta")
        stream.write("tail")
        stream.finish()
        let (text, end) = drain(stream)
        XCTAssertEqual(text, "event: delta\ndata: one\ndata: two\n\ntail")
        XCTAssertEqual(end, .endOfStream)
        XCTAssertTrue(stream.isDrained)
    }

    func testWritesAfterFinishOrCancelAreRefused() {
        let finished = HTTPStream()
        finished.finish()
        XCTAssertFalse(finished.write("late"))

        let cancelled = HTTPStream()
        cancelled.cancel(.clientDisconnected)
        XCTAssertFalse(cancelled.write("late"))
        XCTAssertEqual(drain(cancelled).1, .abort)
    }

    func testCancelRunsHandlersOnceAndLateHandlersImmediately() {
        let stream = HTTPStream()
        let calls = Shared<[HTTPStream.CancelReason]>([])
        stream.onCancel { reason in calls.update { $0.append(reason) } }
        stream.cancel(.serverShutdown)
        stream.cancel(.clientDisconnected)  // first reason wins
        stream.onCancel { reason in calls.update { $0.append(reason) } }
        XCTAssertEqual(calls.current, [.serverShutdown, .serverShutdown])
        XCTAssertEqual(stream.cancelReason, .serverShutdown)
        XCTAssertTrue(stream.waitUntilCancelled(timeout: 0))
    }

    func testBlockedReaderNoticesPeerLeaving() {
        let stream = HTTPStream()
        var buffer = [UInt8](repeating: 0, count: 8)
        let result = buffer.withUnsafeMutableBytes {
            stream.read(into: $0, waiting: .block(pollInterval: 0.01), peerClosed: { true })
        }
        XCTAssertEqual(result, .abort)
        XCTAssertEqual(stream.cancelReason, .clientDisconnected)
    }

    func testParkedReaderIsResumedByTheNextWrite() {
        let stream = HTTPStream()
        let resumed = Shared(0)
        var buffer = [UInt8](repeating: 0, count: 8)
        let result = buffer.withUnsafeMutableBytes {
            stream.read(into: $0, waiting: .park(suspend: {}, resume: { resumed.update { $0 += 1 } }),
                        peerClosed: { false })
        }
        XCTAssertEqual(result, .parked)
        XCTAssertEqual(resumed.current, 0)
        stream.write("x")
        stream.write("y")  // one resume per park
        XCTAssertEqual(resumed.current, 1)
    }

    /// Interleaved writes and partial reads (the compaction path) lose and reorder nothing.
    func testInterleavedWritesAndReadsPreserveBytes() {
        let stream = HTTPStream()
        var written = "", read = ""
        var buffer = [UInt8](repeating: 0, count: 7)
        for i in 0..<2000 {
            stream.write("token \(i) ")
            written += "token \(i) "
            if i % 3 == 0 {
                let result = buffer.withUnsafeMutableBytes {
                    stream.read(into: $0, waiting: .block(pollInterval: 0.01), peerClosed: { false })
                }
                if case .bytes(let n) = result { read += String(decoding: buffer[0..<n], as: UTF8.self) }
            }
        }
        stream.finish()
        read += drain(stream).0
        XCTAssertEqual(read, written)
    }
}
