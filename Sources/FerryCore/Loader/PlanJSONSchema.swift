import Foundation

/// A JSON Schema (draft 2020-12, https://json-schema.org/draft/2020-12/schema) of the plan format
/// of SPEC §2, printed by `ferry schema` for editors and other validators.
///
/// The schema checks a plan file's shape: the known fields of each object (names from
/// `PlanSchema`), their types, the allowed words of each choice (from the model's enums), sizes,
/// durations, times, names, passwords given by reference, and which fields each kind of entry
/// needs. A string that holds `${env:...}` is accepted wherever a value may be written that way,
/// since its value is known only at load time. What needs more than one file or the disk is the
/// loader's alone: references to instances and resources across files, two resources writing one
/// database, the same name in two files, dependency cycles, file sources that must exist.
public enum PlanJSONSchema {
    /// The dialect the schema is written in.
    public static let dialect = "https://json-schema.org/draft/2020-12/schema"
    /// The schema's identifier; it names the plan format version (`"ferry": 1`).
    public static let identifier = "urn:ferry:plan:1"

    /// The schema as UTF-8 JSON text: keys sorted, two-space indent, ending in a newline.
    public static func text() -> String {
        let data = try! JSONSerialization.data(withJSONObject: document(),
                                               options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        // JSONSerialization indents with two spaces on Linux and macOS alike.
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The schema as a JSON object tree (dictionaries, arrays, strings, numbers, booleans).
    public static func document() -> [String: Any] {
        [
            "$schema": dialect,
            "$id": identifier,
            "title": "Ferry plan file",
            "description": "One plan file of Ferry (docs/SPEC.md §2). A plan is one file or every *.json file of a directory merged.",
            "type": "object",
            "required": ["ferry"],
            "additionalProperties": false,
            "properties": properties(PlanSchema.topLevelFields, topLevelProperties()),
            "$defs": definitions(),
        ]
    }

    /// The properties object for `fields` (the loader's list) from `schemas`. A field the loader knows
    /// but `schemas` does not describe is accepted with any value, and one the loader does not know is
    /// left out; `mismatchedFields` names both, and the tests require it to be empty.
    static func properties(_ fields: [String], _ schemas: [String: Any]) -> [String: Any] {
        var result: [String: Any] = [:]
        for field in fields { result[field] = schemas[field] ?? [String: Any]() }
        return result
    }

    /// Fields where the schema and `PlanSchema` disagree: known to the loader but not described
    /// here, or described here but unknown to the loader. Empty when they agree.
    public static func mismatchedFields() -> [String] {
        let pairs: [(String, [String], [String: Any])] = [
            ("", PlanSchema.topLevelFields, topLevelProperties()),
            ("instance.", PlanSchema.instanceFields, instanceProperties()),
            ("import.", PlanSchema.importFields, importProperties()),
            ("copy.", PlanSchema.copyFields, copyProperties()),
            ("backup.", PlanSchema.backupFields, backupProperties()),
            ("password.", PlanSchema.passwordFields, passwordProperties()),
            ("state.", PlanSchema.stateFields, stateProperties()),
        ]
        return pairs.flatMap { prefix, known, described in
            Set(known).symmetricDifference(described.keys).sorted().map { prefix + $0 }
        }
    }

    static func topLevelProperties() -> [String: Any] {
        [
            "$schema": ["type": "string", "description": "the schema this file follows (ignored by ferry)"],
            "ferry": ["const": 1, "description": "the plan format version; this version of ferry reads 1"],
            "state": [
                "description": "where the state, its lock and the runs' journals live (docs/SPEC.md §6); --state overrides it",
                "type": "object", "additionalProperties": false, "required": ["backend", "url"],
                "properties": properties(PlanSchema.stateFields, stateProperties()),
            ],
            "instances": section("instance"),
            "imports": section("import"),
            "copies": section("copy"),
            "backups": section("backup"),
        ]
    }

    static func section(_ kind: String) -> [String: Any] {
        ["type": "object", "propertyNames": ref("name"), "additionalProperties": ref(kind)]
    }

    static func ref(_ name: String) -> [String: Any] { ["$ref": "#/$defs/\(name)"] }

    /// A value that may also be written as a string holding `${env:...}`.
    static func expandable(_ schema: [String: Any]) -> [String: Any] {
        ["anyOf": [schema, ref("envString")]]
    }

    static func choice<E: RawRepresentable>(_ values: [E], _ description: String) -> [String: Any] where E.RawValue == String {
        var schema = expandable(["enum": values.map(\.rawValue)])
        schema["description"] = description
        return schema
    }

    static func definitions() -> [String: Any] {
        let nonEmpty: [String: Any] = ["type": "string", "minLength": 1]
        let positiveNumber = "(?=[0-9.]*[1-9])[0-9]+(\\.[0-9]+)?"
        return [
            "envString": ["type": "string", "pattern": "\\$\\{env:",
                          "description": "a string with ${env:NAME} or ${env:NAME:-default}, expanded when the plan is loaded"],
            "name": ["type": "string", "pattern": "^[A-Za-z0-9_.-]+$",
                     "description": "an instance or resource name: letters, digits, '_', '.' and '-'"],
            "nonEmptyString": nonEmpty,
            "boolean": expandable(["type": "boolean"]),
            "positiveInteger": expandable(["anyOf": [["type": "integer", "minimum": 1],
                                                     ["type": "string", "pattern": "^\\s*0*[1-9][0-9]*\\s*$"]]]),
            "size": expandable(["anyOf": [
                ["type": "integer", "minimum": 1],
                ["type": "string",
                 "pattern": "^[ \\t]*\(positiveNumber)[ \\t]*([bB]|[kKmMgGtTpP][iI]?[bB])?[ \\t]*$"],
            ], "description": "bytes: \"512 MiB\", \"20 GiB\", \"1.5 GB\", \"100 MB\" (KB..PB powers of 1000, KiB..PiB of 1024)"]),
            "duration": expandable(["type": "string",
                                    "pattern": "^[ \\t]*(?=[^1-9]*[1-9])([0-9]+(\\.[0-9]+)?[dDhHmMsS])+[ \\t]*$",
                                    "description": "a duration: \"24h\", \"30m\", \"7d\", \"1h30m\", \"90s\""]),
            "time": expandable(["type": "string", "format": "date-time",
                                // Months with their days (February up to 29: a 29th in a year that is not
                                // a leap year is refused by the loader only), hours 00-23, no leap second.
                                "pattern": "^[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-9]))"
                                    + "[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$",
                                "description": "an RFC 3339 time, e.g. \"2026-11-20T16:00:00Z\""]),
            "address": ["type": "string", "pattern": "^(import|copy|backup)\\.[A-Za-z0-9_.-]+$",
                        "description": "import.NAME, copy.NAME or backup.NAME"],
            "after": ["description": "resources this one runs after",
                      "anyOf": [ref("address"), ["type": "array", "items": ref("address")]]],
            "databaseList": ["type": "array", "minItems": 1, "uniqueItems": true, "items": nonEmpty],
            "password": [
                "description": "a password by reference, never a literal",
                "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": false,
                "properties": properties(PlanSchema.passwordFields, passwordProperties()),
            ],
            "instance": instance(),
            "import": importEntry(),
            "copy": copy(),
            "backup": backup(),
        ]
    }

    static func stateProperties() -> [String: Any] {
        [
            "backend": ["enum": StateSpec.backends, "description": "the state's backend: postgres (a local directory is given with --state DIR)"],
            "url": ["type": "string", "minLength": 1, "not": ["pattern": literalPassword],
                    "pattern": "^(postgres|postgresql)://|\\$\\{env:",
                    "description": "postgres://user@host:port/database, the password by reference (\"password\" or ${env:NAME} as the url's password)"],
            "password": ref("password"),
            "schema": ["type": "string", "pattern": "^[a-z_][a-z0-9_]{0,62}$", "not": ["pattern": "^(pg_|information_schema$)"],
                       "description": "the schema holding Ferry's tables (default ferry); not pg_* or information_schema"],
        ]
    }

    static func passwordProperties() -> [String: Any] {
        [
            "env": ["type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": "the environment variable that holds it"],
            "file": ["type": "string", "minLength": 1, "description": "a file that holds it (relative to this plan file)"],
        ]
    }

    /// A url whose user information holds a literal password (`user:secret@host`), refused; a
    /// password that is one `${env:...}` reference is not literal.
    static let literalPassword = "^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*:(?!\\$\\{env:[A-Za-z_][A-Za-z0-9_]*(:-[^}$]*)?\\}@)[^/?#@]+@"

    static func instance() -> [String: Any] {
        [
            "type": "object", "additionalProperties": false, "required": ["engine"],
            "properties": properties(PlanSchema.instanceFields, instanceProperties()),
            "if": ["properties": ["engine": ["const": EngineKind.allCases.first(where: \.isAddressedByDirectory)?.rawValue ?? ""]]],
            "then": ["required": ["path"], "not": ["required": ["url"]]],
            "else": ["required": ["url"], "not": ["required": ["path"]]],
        ]
    }

    static func importEntry() -> [String: Any] {
        [
            "type": "object", "additionalProperties": false, "required": ["into", "database", "from"],
            "properties": properties(PlanSchema.importFields, importProperties()),
        ]
    }

    static func copy() -> [String: Any] {
        [
            "type": "object", "additionalProperties": false, "required": ["from", "to", "databases"],
            "not": ["required": ["backup", "at"]],
            "properties": properties(PlanSchema.copyFields, copyProperties()),
        ]
    }

    static func backup() -> [String: Any] {
        [
            "type": "object", "additionalProperties": false, "required": ["of", "databases", "to"],
            "properties": properties(PlanSchema.backupFields, backupProperties()),
        ]
    }

    static func instanceProperties() -> [String: Any] {
        [
            "engine": choice(EngineKind.allCases, "the database engine"),
            "path": ["type": "string", "minLength": 1, "description": "sqlite: a directory of NAME.db files"],
            "url": ["type": "string", "minLength": 1, "not": ["pattern": literalPassword],
                    "description": "servers: mysql://user@host:port, redis://host:port, rediss://..., postgres://..."],
            "password": ref("password"),
            "account": ["type": "string"],
            "region": ["type": "string"],
            "storageLimit": ref("size"),
            "maxConnections": ref("positiveInteger"),
            "protect": ref("boolean"),
            "terminateSessions": ref("boolean"),
        ]
    }

    static func importProperties() -> [String: Any] {
        [
            "into": ref("nonEmptyString"),
            "database": ref("nonEmptyString"),
            "from": ["description": "a path (relative to this file), or one or more URIs loaded in order as one",
                     "anyOf": [ref("nonEmptyString"), ["type": "array", "minItems": 1, "items": ref("nonEmptyString")]]],
            "format": choice(ImportFormat.allCases, "inferred from the source name when absent"),
            "onExisting": choice([OnExisting.fail, .replace, .append], "default fail"),
            "rerun": choice([RerunPolicy.onChange, .always, .once], "default onChange"),
            "after": ref("after"),
            "sourceDatabase": ["description": "RDB imports only: the one database of the file to import (0 or more)",
                               "type": "integer", "minimum": 0],
            "merge": choice(ImportMerge.allCases, "RDB imports only: a key held by two databases of the file; default error"),
            "owner": ["description": "PostgreSQL imports only: the ordinary role (no superuser or server-level rights) that owns what the file creates without an ordinary owner",
                      "allOf": [ref("nonEmptyString")]],
        ]
    }

    static func copyProperties() -> [String: Any] {
        [
            "from": ref("nonEmptyString"),
            "to": ref("nonEmptyString"),
            "databases": ["description": "a list (same names on both sides) or a map {\"source\": \"target\"}",
                          "anyOf": [ref("databaseList"),
                                    ["type": "object", "minProperties": 1, "propertyNames": ["minLength": 1],
                                     "additionalProperties": ref("nonEmptyString")]]],
            "users": choice(UserSync.allCases, "default skip"),
            "onExisting": choice([OnExisting.fail, .replace], "default fail"),
            "backup": ["type": "string", "description": "a backup set id of the source"],
            "at": ref("time"),
            "verify": choice(VerifyLevel.allCases, "default checksum"),
            "rerun": choice([RerunPolicy.onSourceChange, .onChange, .always, .once], "default onSourceChange"),
            "after": ref("after"),
            "allowCrossAccount": ref("boolean"),
            "owner": ["description": "PostgreSQL copies only: the ordinary role (no superuser or server-level rights) that owns what the copy makes; not with users sync",
                      "type": "string", "minLength": 1],
        ]
    }

    static func backupProperties() -> [String: Any] {
        [
            "of": ref("nonEmptyString"),
            "databases": ref("databaseList"),
            "to": ["type": "string", "minLength": 1, "not": ["pattern": literalPassword],
                   "description": "a directory (relative to this file), or s3://, gs://, abs://, ftp:// or ftps:// location; an ftp(s) password only as ${env:NAME}"],
            "every": ref("duration"),
            "keep": ref("positiveInteger"),
            "after": ref("after"),
        ]
    }
}
