/// The fields of each kind of plan object, in the canonical order `ferry fmt` writes them (SPEC §2).
public enum PlanSchema {
    /// `$schema` names a JSON Schema for editors (`ferry schema` prints one); ferry ignores its value.
    public static let topLevelFields = ["$schema", "ferry", "state", "instances", "imports", "copies", "backups"]
    /// The top-level fields whose values are objects of named entries.
    public static let sections = ["instances", "imports", "copies", "backups"]
    public static let instanceFields = ["engine", "path", "url", "password", "account", "region",
                                        "storageLimit", "maxConnections", "protect", "terminateSessions"]
    public static let importFields = ["into", "database", "from", "format", "onExisting", "rerun", "after",
                                      "sourceDatabase", "merge", "owner"]
    public static let copyFields = ["from", "to", "databases", "users", "onExisting", "backup", "at", "verify",
                                    "rerun", "after", "allowCrossAccount", "owner"]
    public static let backupFields = ["of", "databases", "to", "every", "keep", "after"]
    public static let passwordFields = ["env", "file"]
    /// The `"state"` block: where the state, its lock and the runs' journals live (SPEC §2, §6).
    public static let stateFields = ["backend", "url", "password", "schema"]

    /// The fields of one entry of a section, in canonical order.
    public static func entryFields(ofSection section: String) -> [String]? {
        switch section {
        case "instances": instanceFields
        case "imports": importFields
        case "copies": copyFields
        case "backups": backupFields
        default: nil
        }
    }

    /// The URI schemes an import may read from (SPEC §2); any other scheme is a plan error.
    public static let sourceSchemes: Set<String> = ["file", "http", "https", "ftp", "ftps", "s3", "gs", "abs", "redis", "rediss"]
    /// The schemes for messages, in SPEC order.
    public static let sourceSchemesText = "file:, http:, https:, ftp:, ftps:, s3:, gs:, abs:, redis:, rediss:"
}
