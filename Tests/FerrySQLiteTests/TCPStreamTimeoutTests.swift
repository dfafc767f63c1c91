import FerryCore
@testable import FerryIO
import Foundation
import Testing

/// A peer that stops sending is a timeout, named as one (fresh tester W10: a stalled HTTP source
/// failed with "lost the connection ...: Resource temporarily unavailable", EAGAIN's words).
struct TCPStreamTimeoutTests {
    /// A loopback listener whose connections complete (the kernel's backlog) and never get a byte.
    func silentListener() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(bound == 0)
        #expect(listen(fd, 4) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    @Test func aPeerThatSendsNothingIsATimeoutNamedAsOne() throws {
        let (listener, port) = try silentListener()
        defer { close(listener) }
        let stream = try TCPStream(host: "127.0.0.1", port: port, what: "127.0.0.1:\(port) for http://127.0.0.1/stall.sql",
                                   connectCode: .importError, ioCode: .importError, sendTimeoutSeconds: 1, receiveTimeoutSeconds: 1)
        defer { stream.close() }
        var buffer = [UInt8](repeating: 0, count: 64)
        let started = Date()
        #expect {
            _ = try buffer.withUnsafeMutableBytes { try stream.receive(into: $0.baseAddress!, count: $0.count) }
        } throws: { error in
            let message = (error as? FerryError)?.message ?? "\(error)"
            return message.contains("no data from 127.0.0.1:\(port)") && message.contains("for 1 s (timed out)")
                && !message.contains("lost the connection") && !message.contains("temporarily unavailable")
        }
        #expect(Date().timeIntervalSince(started) < 30)
    }
}
