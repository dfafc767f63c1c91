import Foundation
public struct LoadResult: Sendable { public var plan: Plan; public var diagnostics: [Diagnostic]; public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } } }
public struct PlanLoader { public init(environment: [String: String] = ProcessInfo.processInfo.environment, root: String = FileManager.default.currentDirectoryPath, allowOutside: [String] = []) {}
  public func load(path: String) -> LoadResult { LoadResult(plan: Plan(), diagnostics: []) } }
public enum PlanFormatter { public static func format(_ text: String, file: String) throws -> String { text } }
