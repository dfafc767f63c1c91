import Foundation
import Testing
@testable import FerryCore

/// Kept-target warnings follow the server, not the instance name (fresh tester W6, reviewer):
/// one server under scheme aliases and an implied default port is one identity; another host,
/// port or directory is another.
struct KeptTargetsServerTests {
    func spec(_ name: String, _ engine: EngineKind, url: String? = nil, path: String? = nil) -> InstanceSpec {
        InstanceSpec(name: name, engine: engine, path: path, url: url)
    }

    @Test func oneServerUnderAliasesAndDefaultPortsIsOneIdentity() {
        let same: [(InstanceSpec, InstanceSpec)] = [
            (spec("a", .postgres, url: "postgres://ferry@db.example/postgres"), spec("b", .postgres, url: "postgresql://other@DB.example:5432/app")),
            (spec("a", .mysql, url: "mysql://root@127.0.0.1"), spec("b", .mysql, url: "mysql://app@127.0.0.1:3306")),
            (spec("a", .redis, url: "redis://127.0.0.1:6379"), spec("b", .redis, url: "rediss://u@127.0.0.1")),
            (spec("a", .sqlite, path: "/srv/data/../data"), spec("b", .sqlite, path: "/srv/data")),
        ]
        for (x, y) in same { #expect(KeptTargets.serverIdentity(x) == KeptTargets.serverIdentity(y), "\(x) \(y)") }
        let other: [(InstanceSpec, InstanceSpec)] = [
            (spec("a", .postgres, url: "postgres://db.example:5433/x"), spec("b", .postgres, url: "postgres://db.example/x")),
            (spec("a", .mysql, url: "mysql://h1:3306"), spec("b", .mysql, url: "mysql://h2:3306")),
            (spec("a", .redis, url: "redis://h:6379"), spec("b", .mysql, url: "mysql://h:6379")),
            (spec("a", .sqlite, path: "/srv/a"), spec("b", .sqlite, path: "/srv/b")),
        ]
        for (x, y) in other { #expect(KeptTargets.serverIdentity(x) != KeptTargets.serverIdentity(y), "\(x) \(y)") }
    }
}
