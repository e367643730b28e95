import Foundation
import JSON

/// loss.svg: training loss (and validation loss points) over steps, learning rate on a
/// second axis. Plain SVG, no dependencies.
enum LossPlot {
    static func svg(_ metrics: [JSONValue]) -> String {
        let (w, h, pad) = (720.0, 360.0, 50.0)
        let steps = metrics.compactMap { $0["step"]?.doubleValue }
        let losses = metrics.compactMap { $0["loss"]?.doubleValue }, lrs = metrics.compactMap { $0["lr"]?.doubleValue }
        let vals = metrics.compactMap { m in m["val_loss"]?.doubleValue.map { (m["step"]!.doubleValue!, $0) } }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        guard let maxStep = steps.max(), !losses.isEmpty else { return out + "<text x=\"20\" y=\"30\">no steps yet</text>\n</svg>\n" }
        let allLoss = losses + vals.map(\.1)
        let lo = allLoss.min()!, hi = max(allLoss.max()!, lo + 1e-9), lrHi = max(lrs.max() ?? 1, 1e-30)
        func x(_ s: Double) -> Double { pad + (s - 1) / max(1, maxStep - 1) * (w - 2 * pad) }
        func y(_ v: Double) -> Double { h - pad - (v - lo) / (hi - lo) * (h - 2 * pad) }
        func yLR(_ v: Double) -> Double { h - pad - v / lrHi * (h - 2 * pad) }
        func line(_ pts: [(Double, Double)], _ color: String) -> String {
            "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"" +
                pts.map { String(format: "%.1f,%.1f", $0.0, $0.1) }.joined(separator: " ") + "\"/>\n"
        }
        out += "<line x1=\"\(pad)\" y1=\"\(h - pad)\" x2=\"\(w - pad)\" y2=\"\(h - pad)\" stroke=\"black\"/>\n"
        out += "<line x1=\"\(pad)\" y1=\"\(pad)\" x2=\"\(pad)\" y2=\"\(h - pad)\" stroke=\"black\"/>\n"
        out += line(zip(steps, lrs).map { (x($0), yLR($1)) }, "#bbbbbb")
        out += line(zip(steps, losses).map { (x($0), y($1)) }, "#1f77b4")
        for (s, v) in vals { out += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>\n", x(s), y(v)) }
        out += String(format: "<text x=\"%.0f\" y=\"%.0f\">loss %.4g</text>\n", 4.0, pad - 8, hi)
        out += String(format: "<text x=\"%.0f\" y=\"%.0f\">%.4g</text>\n", 4.0, h - pad, lo)
        out += "<text x=\"\(w - pad - 20)\" y=\"\(h - pad + 20)\">step \(Int(maxStep))</text>\n"
        out += "<text x=\"\(pad + 10)\" y=\"20\" fill=\"#1f77b4\">train loss</text>"
        out += "<text x=\"\(pad + 100)\" y=\"20\" fill=\"#d62728\">val loss</text>"
        out += String(format: "<text x=\"%.0f\" y=\"20\" fill=\"#888888\">lr (peak %.3g)</text>\n", pad + 180, lrHi)
        return out + "</svg>\n"
    }
}
