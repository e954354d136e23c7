import ZhifaDomain

/// Which registered device signs an event sent over HTTP.
public enum TerminalDevice {
    /// The device named by the event's source (`urn:zhifa:device:ID`), or the agency's case system
    /// (`SYS-<agency>`) for agency sources.
    public static func signer(for event: CloudEvent?) -> String? {
        guard let source = event?.source else { return nil }
        if source.hasPrefix("urn:zhifa:device:") { return String(source.dropFirst("urn:zhifa:device:".count)) }
        if source.hasPrefix("urn:zhifa:agency:") { return "SYS-" + source.dropFirst("urn:zhifa:agency:".count) }
        return nil
    }
}
