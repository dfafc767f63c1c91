// swift-tools-version:6.0
import PackageDescription

// No external packages: Foundation, the toolchain's Swift Testing, and
// system C libraries through system-library targets.
let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]
/// Release builds of the per-key loops (RDB parsing, RESP encoding) skip the run-time exclusivity
/// checks of class properties, which cost ~15% of an import's CPU in `perf`; debug builds and
/// every test run keep them.
let hotLoops: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "Ferry",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ferry", targets: ["ferry"]),
        .library(name: "FerryCore", targets: ["FerryCore"]),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSSL", pkgConfig: "libssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CMariaDB", pkgConfig: "libmariadb",
                       providers: [.apt(["libmariadb-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),

        .target(name: "FerryCore", swiftSettings: swift6),
        .target(name: "FerryIO", dependencies: ["FerryCore", "CZlib", "CCrypto", "CSSL"], swiftSettings: swift6),
        .target(name: "FerrySQLite", dependencies: ["FerryCore", "FerryIO", "CSQLite"], swiftSettings: swift6),
        .target(name: "FerryMySQL", dependencies: ["FerryCore", "FerryIO", "CMariaDB"], swiftSettings: swift6),
        .target(name: "FerryPostgres", dependencies: ["FerryCore", "FerryIO", "CLibPQ"], swiftSettings: swift6),
        .target(name: "FerryRedis", dependencies: ["FerryCore", "FerryIO"], swiftSettings: swift6 + hotLoops),
        .executableTarget(name: "ferry",
                          dependencies: ["FerryCore", "FerryIO", "FerrySQLite", "FerryMySQL", "FerryPostgres", "FerryRedis"],
                          swiftSettings: swift6),

        .testTarget(name: "FerryCoreTests", dependencies: ["FerryCore"], swiftSettings: swift6),
        .testTarget(name: "FerrySQLiteTests", dependencies: ["FerryCore", "FerryIO", "FerrySQLite", "CSQLite"], swiftSettings: swift6),
        .testTarget(name: "FerryMySQLTests", dependencies: ["FerryCore", "FerryIO", "FerryMySQL"], swiftSettings: swift6),
        .testTarget(name: "FerryPostgresTests", dependencies: ["FerryCore", "FerryIO", "FerryPostgres"], swiftSettings: swift6),
        .testTarget(name: "FerryRedisTests", dependencies: ["FerryCore", "FerryIO", "FerryRedis"], swiftSettings: swift6),
        .testTarget(name: "FerryEndToEndTests", dependencies: ["FerryCore", "CSQLite"], swiftSettings: swift6),
    ]
)
