import Foundation

/// One CloudEvents 1.0 event: the context attributes and the `data` bytes exactly as received.
public struct CloudEvent: Sendable, Equatable {
    /// `specversion` (`1.0`).
    public var specversion: String
    /// `id`: unique per producer; consumers deduplicate on it.
    public var id: String
    /// `source`, e.g. `urn:zhifa:device:DSJ-0007`.
    public var source: String
    /// `type`, e.g. `cn.zhifa.case.opened.v1`.
    public var type: String
    /// `time`, RFC 3339 as sent.
    public var time: String
    /// `datacontenttype` (`application/json`).
    public var dataContentType: String?
    /// The `data` member's bytes, byte-exact.
    public var data: [UInt8]

    /// Creates an event.
    public init(specversion: String = "1.0", id: String, source: String, type: String, time: String, dataContentType: String? = "application/json", data: [UInt8]) {
        self.specversion = specversion
        self.id = id
        self.source = source
        self.type = type
        self.time = time
        self.dataContentType = dataContentType
        self.data = data
    }

    /// `data.caseId`, the Kafka key of every contract event, if present and text.
    public var caseId: String? {
        guard let raw = JSONRawMembers.members(of: data)?["caseId"] else { return nil }
        return (try? JSONParser.parse(Array(raw)))?.stringValue
    }
}

/// Why bytes are not a structured-mode CloudEvent.
public struct CloudEventFormatError: Error, CustomStringConvertible, Sendable, Equatable {
    /// JSON Pointer of the problem ("" for the whole document).
    public var pointer: String
    /// What is wrong.
    public var detail: String
    /// Creates an error.
    public init(pointer: String, detail: String) {
        self.pointer = pointer
        self.detail = detail
    }
    public var description: String { pointer.isEmpty ? detail : "\(pointer): \(detail)" }
}

/// CloudEvents structured mode (`application/cloudevents+json`).
public enum StructuredCloudEvent {
    /// The event from an already-parsed (validated) structured-mode JSON value and its bytes;
    /// `data` keeps the original bytes.
    public static func event(from value: JSONValue, raw: [UInt8]) throws(CloudEventFormatError) -> CloudEvent {
        guard case .object(let o) = value else { throw CloudEventFormatError(pointer: "", detail: "a structured-mode CloudEvent must be a JSON object") }
        func text(_ name: String) throws(CloudEventFormatError) -> String {
            guard let s = o[name]?.stringValue else { throw CloudEventFormatError(pointer: "/\(name)", detail: "required attribute is missing or not a string") }
            return s
        }
        let data = JSONRawMembers.members(of: raw)?["data"].map(Array.init) ?? Array((o["data"]?.jsonText ?? "null").utf8)
        return CloudEvent(specversion: o["specversion"]?.stringValue ?? (o["specversion"]?.jsonText ?? ""), id: try text("id"), source: try text("source"),
                          type: try text("type"), time: try text("time"), dataContentType: o["datacontenttype"]?.stringValue, data: data)
    }

    /// Parses one event; `data` keeps its original bytes. Attribute values are checked for type
    /// only; the contract's rules are the validator's job.
    public static func parse(_ bytes: [UInt8]) throws(CloudEventFormatError) -> CloudEvent {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes), options: [])) else {
            throw CloudEventFormatError(pointer: "", detail: "the body is not valid JSON")
        }
        guard let dict = object as? [String: Any], let members = JSONRawMembers.members(of: bytes) else {
            throw CloudEventFormatError(pointer: "", detail: "a structured-mode CloudEvent must be a JSON object")
        }
        return try event(from: dict, dataBytes: members["data"].map(Array.init))
    }

    /// Parses a batch (`application/cloudevents-batch+json`): a JSON array of events. Each element
    /// is parsed separately so one bad event does not hide the others.
    public static func parseBatch(_ bytes: [UInt8]) throws(CloudEventFormatError) -> [Result<CloudEvent, CloudEventFormatError>] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: []) else {
            throw CloudEventFormatError(pointer: "", detail: "the body is not valid JSON")
        }
        guard let array = object as? [Any] else {
            throw CloudEventFormatError(pointer: "", detail: "a CloudEvents batch must be a JSON array")
        }
        return array.enumerated().map { (i, element) in
            guard let dict = element as? [String: Any] else {
                return .failure(CloudEventFormatError(pointer: "/\(i)", detail: "each batch element must be a JSON object"))
            }
            do throws(CloudEventFormatError) {
                let dataBytes: [UInt8]? = dict["data"].flatMap { d in
                    (try? JSONSerialization.data(withJSONObject: d, options: [.fragmentsAllowed, .withoutEscapingSlashes])).map { Array($0) }
                }
                return .success(try event(from: dict, dataBytes: dataBytes))
            } catch {
                return .failure(error)
            }
        }
    }

    /// The structured-mode JSON of an event (its `data` inserted byte-exact).
    public static func serialize(_ event: CloudEvent) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(event.data.count + 256)
        out.append(contentsOf: "{\"specversion\":".utf8)
        JSONValue.writeString(event.specversion, to: &out)
        for (k, v) in [("id", event.id), ("source", event.source), ("type", event.type), ("time", event.time)] {
            out.append(contentsOf: ",\"\(k)\":".utf8)
            JSONValue.writeString(v, to: &out)
        }
        if let ct = event.dataContentType {
            out.append(contentsOf: ",\"datacontenttype\":".utf8)
            JSONValue.writeString(ct, to: &out)
        }
        out.append(contentsOf: ",\"data\":".utf8)
        out += event.data
        out.append(UInt8(ascii: "}"))
        return out
    }

    private static func event(from dict: [String: Any], dataBytes: [UInt8]?) throws(CloudEventFormatError) -> CloudEvent {
        func text(_ name: String, required: Bool = true) throws(CloudEventFormatError) -> String? {
            guard let v = dict[name] else {
                if required { throw CloudEventFormatError(pointer: "/\(name)", detail: "required attribute is missing") }
                return nil
            }
            guard let s = v as? String else { throw CloudEventFormatError(pointer: "/\(name)", detail: "must be a string") }
            return s
        }
        let specversion: String
        if let v = dict["specversion"] {
            // Keep the value for the validator to judge (a number like 1.0 becomes "1.0").
            specversion = (v as? String) ?? "\(v)"
        } else {
            throw CloudEventFormatError(pointer: "/specversion", detail: "required attribute is missing")
        }
        return CloudEvent(
            specversion: specversion,
            id: try text("id") ?? "",
            source: try text("source") ?? "",
            type: try text("type") ?? "",
            time: try text("time") ?? "",
            dataContentType: try text("datacontenttype", required: false),
            data: dataBytes ?? Array("null".utf8))
    }
}
