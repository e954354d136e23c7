import Dispatch

/// Runs `work` once, `delay` from now, on a global queue: a timer instead of a task sleeping for
/// it (retry back-offs, the shutdown's drain limit). Cancel the returned item to drop the work.
@discardableResult
func runAfter(_ delay: Duration, _ work: @escaping @Sendable () -> Void) -> DispatchWorkItem {
    let item = DispatchWorkItem(block: work)
    let (seconds, attoseconds) = delay.components
    // `DispatchTime + Double` clamps, so a huge delay cannot overflow.
    DispatchQueue.global().asyncAfter(deadline: .now() + (Double(seconds) + Double(attoseconds) / 1e18), execute: item)
    return item
}
