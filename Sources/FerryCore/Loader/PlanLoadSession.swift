import Foundation

/// One load: the plan being built, the diagnostics found so far, and what each file defined.
final class PlanLoadSession {
    let loader: PlanLoader
    var plan = Plan()
    var diagnostics: [Diagnostic] = []
    /// Where each instance and resource (by JSON path, e.g. `instances.prod`) was first defined.
    var definitions: [String: SourceLocation] = [:]
    /// Names declared in any file, even when the declaration had errors, so that references to them
    /// do not cascade into `UnknownInstance` / `UnknownAddress`.
    var declaredInstances: [String] = []
    var declaredInstanceSet: Set<String> = []
    var declaredResources: Set<Address> = []
    /// The file being read: its name as shown and its directory (absolute).
    var file = ""
    var directory = ""
    let realRoot: String
    /// RFC 3339 readers, made once per load: they are costly to create and not Sendable.
    lazy var timeFormatters: [ISO8601DateFormatter] = {
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return [plain, fractional]
    }()
    let realAllowed: [String]
    /// Reads only each file's `"state"` block (and reports only its problems and the file's syntax):
    /// what commands that do not plan need to find the state.
    var onlyState = false

    init(loader: PlanLoader) {
        self.loader = loader
        let cwd = FileManager.default.currentDirectoryPath
        let root = PathResolution.absolute(loader.root, relativeTo: cwd)
        plan.root = root
        realRoot = PathResolution.realPath(root)
        realAllowed = loader.allowOutside.map { PathResolution.realPath(PathResolution.absolute($0, relativeTo: cwd)) }
    }

    // MARK: Reporting

    func report(_ code: ErrorCode, _ message: String, at location: SourceLocation? = nil, hint: String? = nil) {
        diagnostics.append(Diagnostic(code, message, at: location, hint: hint))
    }

    func location(_ position: TextPosition, _ jsonPath: String) -> SourceLocation {
        SourceLocation(file: file, line: position.line, column: position.column, jsonPath: jsonPath)
    }

    @discardableResult
    func record(_ position: TextPosition, _ jsonPath: String) -> SourceLocation {
        let here = location(position, jsonPath)
        plan.locations[jsonPath] = here
        return here
    }

    func finish() -> LoadResult {
        checkReferences()
        reportUnsetVariables()
        checkControlCharacters()
        let order = diagnostics.enumerated().sorted { left, right in
            switch (left.element.location, right.element.location) {
            case let (l?, r?):
                if l.file != r.file { return l.file < r.file }
                if l.line != r.line { return l.line < r.line }
                if l.column != r.column { return l.column < r.column }
                return left.offset < right.offset
            case (_?, nil): return true
            case (nil, _?): return false
            case (nil, nil): return left.offset < right.offset
            }
        }
        return LoadResult(plan: plan, diagnostics: order.map(\.element))
    }

    // MARK: Files

    func loadFile(text: String, absolutePath: String) {
        file = PathResolution.display(absolutePath)
        directory = PathResolution.directory(of: absolutePath)
        plan.files.append(file)
        // About one recorded location per dozen bytes of plan text; reserving avoids rehashing.
        plan.locations.reserveCapacity(plan.locations.count + text.utf8.count / 12)
        let document: JSONNode
        do {
            document = try JSONParser.parse(text)
        } catch {
            report(.syntax, error.message, at: location(error.position, ""))
            return
        }
        if onlyState {
            if let state = document.members?.first(where: { $0.key == "state" }) { loadState(state) }
            return
        }
        guard let fields = fields(of: document, path: "", known: PlanSchema.topLevelFields, what: "a plan file") else {
            return
        }
        if let schema = fields["$schema"], schema.value.stringValue == nil {
            report(.type, "$schema must be a string (the path or URL of a JSON Schema), not \(schema.value.typeName)",
                   at: location(schema.value.position, "$schema"), hint: "`ferry schema` prints the plan format's schema")
        }
        if let ferry = fields["ferry"] {
            if case .number(let literal) = ferry.value.value, Double(literal) == 1 {
                record(ferry.value.position, "ferry")
            } else {
                report(.type, "unsupported plan format \"ferry\": \(describe(ferry.value))",
                       at: location(ferry.value.position, "ferry"), hint: "this version of ferry reads \"ferry\": 1")
            }
        } else {
            report(.invalidParameter, "the file does not say \"ferry\": 1", at: location(document.position, ""),
                   hint: "add \"ferry\": 1 as the first field so ferry knows the plan format version")
        }
        if let state = fields["state"] {
            loadState(state)
        }
        if onlyState { return }
        if let instances = fields["instances"] {
            for entry in entries(of: instances.value, section: "instances", kind: "instance") {
                loadInstance(entry)
            }
        }
        if let imports = fields["imports"] {
            for entry in entries(of: imports.value, section: "imports", kind: "import") {
                loadImport(entry)
            }
        }
        if let copies = fields["copies"] {
            for entry in entries(of: copies.value, section: "copies", kind: "copy") {
                loadCopy(entry)
            }
        }
        if let backups = fields["backups"] {
            for entry in entries(of: backups.value, section: "backups", kind: "backup") {
                loadBackup(entry)
            }
        }
    }

    /// A short, secret-free description of a value for messages.
    func describe(_ node: JSONNode) -> String {
        switch node.value {
        case .number(let literal): literal
        case .bool(let flag): flag ? "true" : "false"
        case .null: "null"
        default: node.typeName
        }
    }

    // MARK: Objects

    /// The members of an object by key (first occurrence), reporting unknown and repeated keys.
    func fields(of node: JSONNode, path: String, known: [String], what: String) -> [String: JSONMember]? {
        guard let members = node.members else {
            report(.type, "\(what) must be an object, not \(node.typeName)", at: location(node.position, path))
            return nil
        }
        var found: [String: JSONMember] = [:]
        for member in members {
            let memberPath = join(path, member.key)
            if let first = found[member.key] {
                report(.duplicateName, "field \"\(member.key)\" is given twice in \(what)",
                       at: location(member.keyPosition, memberPath),
                       hint: "the first is at line \(first.keyPosition.line); keep one")
                continue
            }
            guard known.contains(member.key) else {
                var hint = "known fields: " + known.joined(separator: ", ")
                if let near = PlanValueParsing.closest(to: member.key, in: known) {
                    hint = "did you mean \"\(near)\"?"
                }
                report(.unknownField, "unknown field \"\(member.key)\" in \(what)",
                       at: location(member.keyPosition, memberPath), hint: hint)
                continue
            }
            found[member.key] = member
        }
        return found
    }

    func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : path + "." + key
    }

    /// The named entries of a section, with names checked and defined once across all files.
    func entries(of node: JSONNode, section: String, kind: String) -> [JSONMember] {
        guard let members = node.members else {
            report(.type, "\"\(section)\" must be an object of named \(kind)s, not \(node.typeName)",
                   at: location(node.position, section))
            return []
        }
        var result: [JSONMember] = []
        for member in members {
            let path = section + "." + member.key
            let here = location(member.keyPosition, path)
            if let first = definitions[path] {
                let sameFile = first.file == file
                report(.duplicateName,
                       sameFile ? "\(kind) \"\(member.key)\" is defined twice in this file"
                                : "\(kind) \"\(member.key)\" is already defined in \(first.file)",
                       at: here,
                       hint: "the first definition is at \(first.file):\(first.line):\(first.column); names must be unique across plan files")
                continue
            }
            definitions[path] = here
            plan.locations[path] = here
            if !PlanValueParsing.isValidName(member.key) {
                report(.invalidParameter,
                       member.key.isEmpty ? "\(kind) name is empty" : "\(kind) name \"\(member.key)\" has characters other than letters, digits, '_', '.' and '-'",
                       at: here, hint: "names become addresses such as \(kind == "instance" ? "into/from/to" : "\(kind).NAME"): use [A-Za-z0-9_.-]")
            }
            switch section {
            case "instances":
                declaredInstances.append(member.key)
                declaredInstanceSet.insert(member.key)
            case "imports": declaredResources.insert(Address(.import, member.key))
            case "copies": declaredResources.insert(Address(.copy, member.key))
            default: declaredResources.insert(Address(.backup, member.key))
            }
            result.append(member)
        }
        return result
    }

    // MARK: Values

    /// The string value of a field after `${env:...}` expansion, recording its location.
    func string(_ member: JSONMember?, _ path: String, required: Bool = false, owner: JSONMember? = nil,
                ownerKind: String = "") -> String? {
        guard let member else {
            if required, let owner {
                let field = path.split(separator: ".").last.map(String.init) ?? path
                report(.invalidParameter, "\(ownerKind) \"\(owner.key)\" is missing the required field \"\(field)\"",
                       at: location(owner.keyPosition, PathResolution.parent(of: path)))
            }
            return nil
        }
        return string(member.value, path)
    }

    func string(_ node: JSONNode, _ path: String) -> String? {
        let here = record(node.position, path)
        guard case .string(let raw) = node.value else {
            report(.type, "\(PathResolution.fieldName(path)) must be a string, not \(node.typeName)", at: here)
            return nil
        }
        return expand(raw, at: here)
    }

    /// Marks the values `${env:...}` puts into the path of a source's or a backup location's URL
    /// template `raw` as secrets (`Redaction.maskPathValue`), before anything can show them.
    func maskPathValues(of raw: String) {
        for (value, reference) in PlanValueParsing.pathReferences(raw, environment: loader.environment) {
            Redaction.maskPathValue(value, reference: reference)
        }
    }

    func expand(_ raw: String, at here: SourceLocation, encodingValues encode: ((String) -> String)? = nil) -> String? {
        let expansion = PlanValueParsing.expand(raw, environment: loader.environment, encodingValues: encode)
        if let malformed = expansion.malformed {
            report(.invalidParameter, "bad variable reference: \(malformed)", at: here,
                   hint: "write ${env:NAME} or ${env:NAME:-default}; write $${ for a literal ${")
            return nil
        }
        for name in expansion.unsetVariables { noteUnset(name, at: here) }
        return expansion.unsetVariables.isEmpty ? expansion.text : nil
    }

    /// Records one reference to an unset variable; `finish` reports each variable once.
    func noteUnset(_ name: String, at here: SourceLocation) {
        if let index = unsetIndex[name] {
            unset[index].count += 1
            if unset[index].places.count < Self.unsetPlacesShown { unset[index].places.append(here) }
        } else {
            unsetIndex[name] = unset.count
            unset.append((name, 1, [here]))
        }
    }

    /// How many places of an unset variable a diagnostic names.
    static let unsetPlacesShown = 3

    /// One `UnsetVariable` diagnostic per variable, at its first place, with the count and the next places.
    func reportUnsetVariables() {
        for (name, count, places) in unset {
            var hint = "set \(name), or give a default with ${env:\(name):-default}"
            if count > 1 {
                let more = places.dropFirst().map { "\($0.file):\($0.line):\($0.column)" }
                let rest = count - places.count
                hint = "also at " + more.joined(separator: ", ") + (rest > 0 ? " and \(rest) more" : "") + "; " + hint
            }
            report(.unsetVariable,
                   count == 1 ? "environment variable \(name) is not set"
                              : "environment variable \(name) is not set (\(count) references)",
                   at: places[0], hint: hint)
        }
    }

    /// A URL value after `${env:...}` expansion, with variables inside its userinfo percent-encoded
    /// (a password `Pa@X/rest` stays the password, never a host). When `takingPassword` and the
    /// userinfo's password is exactly one `${env:NAME}`, it is taken out of the URL and returned as
    /// the variable to read the password from: passwords reach engines as passwords, not as URL text.
    func expandURL(_ raw: String, at here: SourceLocation, takingPassword: Bool) -> (url: String, passwordVariable: String?)? {
        guard let parts = PlanValueParsing.splitUserInfo(raw) else {
            return expand(raw, at: here).map { ($0, nil) }
        }
        let encode = PlanValueParsing.percentEncodedUserInfo
        var variable: String?
        if takingPassword, let password = parts.password, let name = PlanValueParsing.wholeReferenceVariable(password) {
            variable = name
            if loader.environment[name] == nil { noteUnset(name, at: here) }
        }
        let head = expand(String(parts.head), at: here)
        let user = expand(String(parts.user), at: here, encodingValues: encode)
        var password: String? = ""
        if variable == nil, let raw = parts.password {
            password = expand(String(raw), at: here, encodingValues: encode).map { ":" + $0 }
        }
        let rest = expand(String(parts.rest), at: here)
        guard let head, let user, let password, let rest else { return nil }
        if variable != nil && loader.environment[variable!] == nil { return nil }
        return (head + user + password + "@" + rest, variable)
    }

    /// A name-like string (an instance, a database): a string that is not empty.
    func name(_ member: JSONMember?, _ path: String, required: Bool, owner: JSONMember, ownerKind: String) -> String? {
        guard let value = string(member, path, required: required, owner: owner, ownerKind: ownerKind) else { return nil }
        if value.isEmpty {
            report(.invalidParameter, "\(PathResolution.fieldName(path)) is empty", at: plan.locations[path])
            return nil
        }
        return value
    }

    func enumValue<E: RawRepresentable>(_ member: JSONMember?, _ path: String, allowed: [E]) -> E?
    where E.RawValue == String {
        guard let member, let text = string(member.value, path) else { return nil }
        if let value = E(rawValue: text), allowed.contains(where: { $0.rawValue == text }) { return value }
        let names = allowed.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        var hint = "\(PathResolution.fieldName(path)) is one of \(names)"
        if let near = PlanValueParsing.closest(to: text, in: allowed.map(\.rawValue)) {
            hint = "did you mean \"\(near)\"? \(hint)"
        }
        report(.type, "unknown \(PathResolution.fieldName(path)) \"\(text)\"", at: plan.locations[path], hint: hint)
        return nil
    }

    func positiveInteger(_ member: JSONMember?, _ path: String) -> Int? {
        guard let member else { return nil }
        let here = record(member.value.position, path)
        var text: String?
        switch member.value.value {
        case .number(let literal): text = PlanValueParsing.integer(fromJSONNumber: literal).map(String.init) ?? literal
        case .string(let raw): text = expand(raw, at: here).map { $0.trimmingCharacters(in: .whitespaces) }
            if text == nil { return nil }
        default: break
        }
        guard let text, let value = Int(text), value > 0 else {
            report(.type, "\(PathResolution.fieldName(path)) must be a positive whole number, not \(describe(member.value))",
                   at: here)
            return nil
        }
        return value
    }

    func bool(_ member: JSONMember?, _ path: String) -> Bool? {
        guard let member else { return nil }
        let here = record(member.value.position, path)
        switch member.value.value {
        case .bool(let flag): return flag
        case .string(let raw) where raw.contains("${env:"):
            // Only an `${env:...}` reference may stand for a boolean (its value `true` or `false`):
            // a literal string such as "true" or "no" is a type error, as in the schema.
            guard let text = expand(raw, at: here) else { return nil }
            if text == "true" { return true }
            if text == "false" { return false }
        default: break
        }
        report(.type, "\(PathResolution.fieldName(path)) must be true or false (a JSON boolean), not \(describe(member.value))", at: here)
        return nil
    }

    /// A path written in this file made absolute against the file's directory.
    func resolve(_ path: String) -> String {
        PathResolution.absolute(path, relativeTo: directory)
    }

    /// Checks that a file source exists and lies inside the root (or an allowed path) after links.
    func checkFileSource(_ absolutePath: String, at here: SourceLocation) {
        // stat(2), never open(2): opening a FIFO waits for a writer, and a device may never end.
        guard let kind = FileKind.of(absolutePath) else {
            let reason = errno == ENOENT || errno == ENOTDIR ? "source file not found"
                : "cannot examine the source file (\(String(cString: strerror(errno))))"
            report(.invalidParameter, "\(reason): \(PathResolution.display(absolutePath))", at: here,
                   hint: "relative paths are resolved against the directory of the plan file")
            return
        }
        guard kind == .regular else {
            report(.invalidParameter, "source \(PathResolution.display(absolutePath)) is \(kind), not a regular file",
                   at: here, hint: "an import reads a regular file or a URI (\(PlanSchema.sourceSchemesText))")
            return
        }
        let real = PathResolution.realPath(absolutePath)
        if PathResolution.isInside(real, realRoot) { return }
        if realAllowed.contains(where: { PathResolution.isInside(real, $0) }) { return }
        let shown = real == absolutePath ? PathResolution.display(absolutePath)
            : "\(PathResolution.display(absolutePath)) (links to \(real))"
        report(.pathOutsideRoot, "source file \(shown) is outside the project \(plan.root)", at: here,
               hint: "move it inside the project, or pass --allow-outside \(real)")
    }

    /// The `after` list of a resource: addresses, checked once every file is read.
    func after(_ member: JSONMember?, _ path: String) -> [Address] {
        guard let member else { return [] }
        record(member.value.position, path)
        var nodes: [JSONNode]
        switch member.value.value {
        case .array(let elements): nodes = elements
        case .string: nodes = [member.value]
        default:
            report(.type, "after must be a list of addresses, not \(member.value.typeName)", at: plan.locations[path],
                   hint: "write [\"import.NAME\", \"copy.NAME\"]")
            return []
        }
        var result: [Address] = []
        for (index, node) in nodes.enumerated() {
            let elementPath = member.value.elements == nil ? path : "\(path).\(index)"
            guard let text = string(node, elementPath) else { continue }
            guard let address = Address(parsing: text) else {
                report(.unknownAddress, "\"\(text)\" is not an address", at: plan.locations[elementPath],
                       hint: "addresses are import.NAME, copy.NAME or backup.NAME")
                continue
            }
            result.append(address)
            pendingAfter.append((address, plan.locations[elementPath] ?? location(node.position, elementPath)))
        }
        return result
    }

    var pendingAfter: [(Address, SourceLocation)] = []
    /// Unset variables in the order first met: references counted, first places kept.
    var unset: [(name: String, count: Int, places: [SourceLocation])] = []
    var unsetIndex: [String: Int] = [:]
    /// Instance references to check once every file is read: name and where it was written.
    var pendingInstances: [(String, SourceLocation)] = []
    /// Databases written by resources: target, writer, where.
    var writes: [(DatabaseRef, Address, SourceLocation)] = []

    func instanceReference(_ name: String?, _ path: String) {
        guard let name, let here = plan.locations[path] else { return }
        pendingInstances.append((name, here))
    }

    // MARK: Cross-file checks

    /// Database names, paths and URLs may not hold control characters: no engine needs them, and
    /// every later output (status, runs, state) would have to carry them (SPEC §9).
    func checkControlCharacters() {
        func check(_ value: String, _ what: String, _ jsonPath: String) {
            guard value.unicodeScalars.contains(where: Redaction.isControl) else { return }
            report(.invalidParameter, "\(what) \"\(value)\" holds control characters", at: plan.location(of: jsonPath),
                   hint: "names, paths and URLs may not hold control characters (newlines, escapes, direction marks)")
        }
        for (name, spec) in plan.instances.sorted(by: { $0.key < $1.key }) {
            if let path = spec.path { check(path, "the path", "instances.\(name).path") }
            if let url = spec.url { check(url, "the url", "instances.\(name).url") }
        }
        for (name, spec) in plan.imports.sorted(by: { $0.key < $1.key }) {
            check(spec.database, "database name", "imports.\(name).database")
            for (index, source) in spec.sources.enumerated() {
                if case .url(let text) = source { check(text, "the source", "imports.\(name).from.\(index)") }
                if case .file(let text) = source { check(text, "the source", "imports.\(name).from.\(index)") }
            }
        }
        for (name, spec) in plan.copies.sorted(by: { $0.key < $1.key }) {
            for mapping in spec.databases {
                check(mapping.source, "database name", "copies.\(name).databases.\(mapping.source)")
                if mapping.target != mapping.source {
                    check(mapping.target, "database name", "copies.\(name).databases.\(mapping.source)")
                }
            }
        }
        for (name, spec) in plan.backups.sorted(by: { $0.key < $1.key }) {
            for database in spec.databases { check(database, "database name", "backups.\(name).databases.\(database)") }
            check(spec.to, "the path", "backups.\(name).to")
        }
    }

    func checkReferences() {
        for (name, here) in pendingInstances where !declaredInstanceSet.contains(name) {
            var hint = declaredInstances.isEmpty ? "no instance is declared; add it under \"instances\""
                : "declared instances: " + declaredInstances.joined(separator: ", ")
            if let near = PlanValueParsing.closest(to: name, in: declaredInstances) {
                hint = "did you mean \"\(near)\"?"
            }
            report(.unknownInstance, "unknown instance \"\(name)\"", at: here, hint: hint)
        }
        for (address, here) in pendingAfter where !declaredResources.contains(address) {
            var hint = "after names resources of the plan: import.NAME, copy.NAME or backup.NAME"
            if let near = PlanValueParsing.closest(to: address.description, in: declaredResources.map(\.description).sorted()) {
                hint = "did you mean \"\(near)\"?"
            }
            report(.unknownAddress, "no resource \(address) in the plan", at: here, hint: hint)
        }
        var firstWriter: [DatabaseRef: (Address, SourceLocation)] = [:]
        let ordered = writes.sorted { ($0.2.file, $0.2.line, $0.2.column) < ($1.2.file, $1.2.line, $1.2.column) }
        for (target, writer, here) in ordered {
            if let (first, firstPlace) = firstWriter[target] {
                if first != writer {
                    report(.duplicateName, "\(first) and \(writer) both write database \(target)", at: here,
                           hint: "\(first) writes it at \(firstPlace.file):\(firstPlace.line):\(firstPlace.column); each target database may be written by one resource")
                }
            } else {
                firstWriter[target] = (writer, here)
            }
        }
    }
}

extension PathResolution {
    static func parent(of jsonPath: String) -> String {
        guard let dot = jsonPath.lastIndex(of: ".") else { return "" }
        return String(jsonPath[..<dot])
    }

    static func fieldName(_ jsonPath: String) -> String {
        guard let dot = jsonPath.lastIndex(of: ".") else { return jsonPath }
        let last = String(jsonPath[jsonPath.index(after: dot)...])
        if last.allSatisfy(\.isNumber) { return fieldName(parent(of: jsonPath)) }
        return last
    }
}
