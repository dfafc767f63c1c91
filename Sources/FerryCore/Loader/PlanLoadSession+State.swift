import Foundation

/// Reading the plan files' `"state"` block (SPEC §2 "The state block").
extension PlanLoadSession {
    /// Reads one file's `"state"` block into `plan.state`. Several files may give the block when
    /// they give the same one; a different one is `InvalidParameter.DuplicateName` at its place,
    /// naming the first. A password written in the url is `InvalidParameter.LiteralPassword`.
    func loadState(_ member: JSONMember) {
        let path = "state"
        let here = location(member.keyPosition, path)
        let errorsBefore = diagnostics.count
        guard let fields = fields(of: member.value, path: path, known: PlanSchema.stateFields, what: "the state block") else { return }
        var complete = true
        var backend: String?
        if let field = fields["backend"] {
            if let text = string(field, path + ".backend") {
                if StateSpec.backends.contains(text) {
                    backend = text
                } else {
                    report(.type, "unknown state backend \"\(Redaction.escapeControlCharacters(text))\"", at: plan.locations[path + ".backend"],
                           hint: "the state block's backend is \"postgres\"; a local directory is given with --state DIR (default .ferry)")
                }
            }
        } else {
            report(.invalidParameter, "the state block is missing the required field \"backend\"", at: here,
                   hint: "write \"backend\": \"postgres\"")
            complete = false
        }
        var url: String?
        var urlPassword: String?
        var urlSchema: String?
        if let field = fields["url"] {
            let at = record(field.value.position, path + ".url")
            if case .string(let raw) = field.value.value {
                if PlanValueParsing.urlHasLiteralPassword(raw) {
                    report(.literalPassword, "the state's url holds a password", at: at,
                           hint: "remove the password from the url and add \"password\": {\"env\": \"VAR\"} or {\"file\": \"path\"}, or write it as ${env:VAR}")
                    complete = false
                } else if let expanded = expandURL(raw, at: at, takingPassword: true) {
                    (url, urlPassword, urlSchema) = checkStateURL(expanded.url, at: at)
                    if url != nil, let variable = expanded.passwordVariable { urlPassword = variable }
                }
            } else {
                report(.type, "url must be a string, not \(field.value.typeName)", at: at)
            }
        } else {
            report(.invalidParameter, "the state block is missing the required field \"url\"", at: here,
                   hint: "for example \"url\": \"postgres://ferry@state-db:5432/postgres\"")
            complete = false
        }
        var password = loadPassword(fields["password"], path + ".password", owner: "the state block")
        if let urlPassword {
            if fields["password"] != nil {
                report(.invalidParameter, "the state block gives a password both in its url and in \"password\"",
                       at: plan.locations[path + ".url"], hint: "keep one: \"password\": {\"env\": \"\(urlPassword)\"}")
                complete = false
            } else {
                password = .env(urlPassword)
            }
        }
        var schema: String?
        if let field = fields["schema"], let text = string(field, path + ".schema") {
            if let problem = StateSpec.schemaProblem(text) {
                report(.invalidParameter, problem, at: plan.locations[path + ".schema"], hint: "for example \"schema\": \"ferry_staging\" (the default is ferry)")
                complete = false
            } else if let urlSchema, urlSchema != text {
                report(.invalidParameter, "the state block names schema \(text) while its url says ?schema=\(urlSchema)",
                       at: plan.locations[path + ".schema"], hint: "name the schema once, in \"schema\"")
                complete = false
            } else {
                schema = text
            }
        }
        // A block with any problem names no state: a command must not run on part of it.
        guard complete, diagnostics.count == errorsBefore, let backend, let url else { return }
        let spec = StateSpec(backend: backend, url: url, password: password, schema: schema ?? urlSchema, location: here)
        if let first = plan.state {
            if !first.sameState(as: spec) {
                let place = first.location.map { "\($0.file):\($0.line):\($0.column)" } ?? "another file"
                report(.duplicateName, "a second state block that names another state than the one at \(place)", at: here,
                       hint: "plan files share one state: give the block once, or the same in every file")
            }
            return
        }
        plan.state = spec
    }

    /// Checks an expanded state url: `postgres://` or `postgresql://`, a host, only `schema` and
    /// `sslmode` parameters. Returns the url, nil as its password variable, and its `schema=`.
    private func checkStateURL(_ text: String, at here: SourceLocation) -> (String?, String?, String?) {
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") else {
            report(.invalidParameter, "the state's url must be a postgres:// url", at: here,
                   hint: "for example \"url\": \"postgres://ferry@state-db:5432/postgres\"; a local state is --state DIR")
            return (nil, nil, nil)
        }
        if refuseAmbiguousUserInfo(text, "the state's url", at: here) { return (nil, nil, nil) }
        guard let parts = URLComponents(string: text), let host = parts.host, !host.isEmpty else {
            report(.invalidParameter, "the state's url is not of the form postgres://user@host:port/database", at: here)
            return (nil, nil, nil)
        }
        var schema: String?
        for item in parts.queryItems ?? [] {
            switch item.name {
            case "schema":
                if let problem = StateSpec.schemaProblem(item.value ?? "") {
                    report(.invalidParameter, problem, at: here, hint: "for example ?schema=ferry_staging (the default is ferry)")
                    return (nil, nil, nil)
                }
                schema = item.value
            case "sslmode": break
            default:
                report(.invalidParameter, "the state's url has an unknown parameter \(Redaction.escapeControlCharacters(item.name))", at: here,
                       hint: "a postgres state url takes ?schema=NAME&sslmode=MODE")
                return (nil, nil, nil)
            }
        }
        return (text, nil, schema)
    }
}
