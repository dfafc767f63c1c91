import FerryCore
@testable import FerryMySQL
import Foundation
import Testing

/// Tables with foreign keys keep their constraints in the shadow, while the loaders take tables by
/// size, in parallel (a child table bigger than its parent starts first).
@Suite(.serialized) struct MySQLForeignKeyTests {
    @Test func childTablesLoadBeforeTheirParentsAndKeepTheirConstraints() throws {
        let a = try Servers.a(), b = try Servers.b()
        defer { a.close(); b.close() }
        let source = "ferry_t_fk"
        try a.sql("DROP DATABASE IF EXISTS `ferry_t_fk`", "CREATE DATABASE `ferry_t_fk`",
                  "CREATE TABLE `ferry_t_fk`.`customers` (id INT PRIMARY KEY, name VARCHAR(20))",
                  "CREATE TABLE `ferry_t_fk`.`orders` (id INT PRIMARY KEY, customer INT NOT NULL, note VARCHAR(200), CONSTRAINT `orders_customer` FOREIGN KEY (customer) REFERENCES `customers` (id))",
                  "INSERT INTO `ferry_t_fk`.`customers` SELECT seq, concat('c', seq) FROM `ferry_t_fk`.seq_1_to_20",
                  "INSERT INTO `ferry_t_fk`.`orders` SELECT seq, 1 + seq % 20, repeat('x', 150) FROM `ferry_t_fk`.seq_1_to_5000")
        let shadow = try b.makeShadow(for: "ferry_t_fk_copy", runID: "run-fk")
        defer { try? b.drop(shadow) }
        let built = try b.copyData(from: a, database: source, into: shadow, progress: ProgressCounter())
        try b.finish(shadow: shadow, receipt: built.receipt, progress: ProgressCounter())
        _ = try b.verify(shadow: shadow, against: a, database: source, level: .checksum)
        #expect(try b.contents(of: shadow) == a.contents(of: source))
        // The constraint came along and is enforced.
        let constraints = try b.connection.query("SELECT CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = \(b.connection.literal(shadow))")
        #expect(constraints.map { $0[0] } == ["orders_customer"])
        // (Ferry's own sessions load with foreign_key_checks = 0; a client's default is 1.)
        try b.sql("SET SESSION foreign_key_checks = 1")
        #expect(throws: (any Error).self) { try b.sql("INSERT INTO \(qualified(shadow, "orders")) VALUES (999999, 12345, 'orphan')") }
        try b.sql("SET SESSION foreign_key_checks = 0")
        try a.sql("DROP DATABASE `ferry_t_fk`")
    }
}
