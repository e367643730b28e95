@testable import Evaluation
import XCTest

/// lm-eval's `preprocess`, cases worked out with Python 3.11 (`re.sub("\\[.*?\\]", "", s)`).
final class HellaSwagTests: XCTestCase {
    func testPreprocessMatchesPython() {
        let cases: [(String, String)] = [
            ("  A [title] B [step] C  ", "A. B C"),
            ("[header] How to x [title] Do y.", " How to x. Do y."),  // stripped before the removal
            ("a [b\nc] d", "a [b\nc] d"),   // `.` does not match a newline
            ("a [b] [c]] d", "a ] d"),
            ("x    y", "x  y"),             // replace is not repeated
            ("[unclosed", "[unclosed"),
        ]
        for (input, expected) in cases { XCTAssertEqual(HellaSwag.preprocess(input), expected, input.debugDescription) }
    }
}
