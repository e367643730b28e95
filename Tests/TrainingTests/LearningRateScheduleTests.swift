import Foundation
@testable import Training
import XCTest

final class LearningRateScheduleTests: XCTestCase {
    func testWarmupThenEachDecayShape() {
        let cosine = LearningRateSchedule(kind: .cosine, peak: 1e-3, warmupSteps: 4, totalSteps: 14, minRatio: 0.1)
        XCTAssertEqual(cosine.rate(step: 0), 2.5e-4, accuracy: 1e-18)
        XCTAssertEqual(cosine.rate(step: 3), 1e-3, accuracy: 1e-18)
        XCTAssertEqual(cosine.rate(step: 4), 1e-3, accuracy: 1e-18)
        XCTAssertEqual(cosine.rate(step: 9), 1e-4 + 9e-4 * 0.5, accuracy: 1e-15)
        XCTAssertEqual(cosine.rate(step: 14), 1e-4, accuracy: 1e-15)
        var linear = cosine
        linear.kind = .linear
        XCTAssertEqual(linear.rate(step: 9), 1e-4 + 9e-4 * 0.5, accuracy: 1e-15)
        XCTAssertEqual(linear.rate(step: 6), 1e-4 + 9e-4 * 0.8, accuracy: 1e-15)
        var constant = cosine
        constant.kind = .constant
        XCTAssertEqual(constant.rate(step: 1), 5e-4, accuracy: 1e-18)
        XCTAssertEqual(constant.rate(step: 13), 1e-3)
    }
}
