import FerryCore
import Foundation

/// The version printed by `ferry version` and written into saved plans.
let ferryVersion = "0.1.0"

extension Context {
    func validate() throws -> Int32 {
        try args.check(allowedSwitches: [], allowedValues: ["--allow-outside"], command: "validate")
        let loader = PlanLoader(root: root, allowOutside: args.all("--allow-outside").map(absolute))
        let result = loader.load(path: planPath())
        // What `plan` would refuse without connecting (cycles, names the engine cannot hold, import
        // files whose statements reach outside their database) is reported too, beside the
        // loader's errors: every phase's problems at once (SPEC §11).
        let diagnostics = result.diagnostics + Planner.staticDiagnostics(plan: result.plan, engines: engines)
            + Planner.importFileDiagnostics(plan: result.plan, engines: engines)
        console.report(diagnostics.filter { $0.severity == .warning })
        let errors = diagnostics.filter { $0.severity == .error }
        if !errors.isEmpty { throw FerryError(diagnostics: errors) }
        let plan = result.plan
        let resources = plan.imports.count + plan.copies.count + plan.backups.count
        console.line("The plan is valid: \(Format.counted(plan.instances.count, "instance")), \(Format.counted(resources, "resource")) in \(Format.counted(plan.files.count, "file")).")
        return 0
    }

    func plan() throws -> Int32 {
        if args.has("--refresh-only") { return try refreshOnly() }
        try args.check(allowedSwitches: ["--detailed-exitcode"],
                       allowedValues: ["--out", "--target", "--exclude", "--replace", "--format", "--allow-outside"], command: "plan")
        let format = args.value("--format") ?? "text"
        guard ["text", "json", "markdown"].contains(format) else {
            throw FerryError(.invalidParameter, "unknown format \(format)", hint: "use text, json or markdown")
        }
        try backend.ensureNoInterruptedRun()
        let path = planPath()
        let plan = try loadPlan(path)
        let state = try backend.readState()
        let options = try planOptions()
        let (facts, result) = makePlan(plan, state: state, options: options)
        if result.hasErrors {
            console.report(result.diagnostics)
            return 1
        }
        let document = PlanDocument(ferryVersion: ferryVersion, createdAt: Date(), changes: result.changes,
                                    graph: result.graph, diagnostics: result.diagnostics)
        switch format {
        case "json": console.out(try document.encoded())
        case "markdown": console.out(MarkdownRenderer.render(changes: result.changes, graph: result.graph, diagnostics: result.diagnostics))
        default: console.out(TextRenderer(palette: console.palette).render(changes: result.changes, graph: result.graph, diagnostics: result.diagnostics))
        }
        if let out = args.value("--out") {
            let saved = SavedPlan(ferryVersion: ferryVersion, createdAt: Date(), planPath: absolute(path), plan: plan,
                                  state: state, options: options, facts: facts, document: document)
            try DurableFile.writeAtomically(try JSONEncoder.ferry.encode(saved), to: absolute(out))
            if format == "text" { console.line("Saved the plan to \(out). Apply it with: ferry apply \(out)") }
        }
        return args.has("--detailed-exitcode") && result.hasChanges ? 2 : 0
    }

    /// `ferry plan --refresh-only`: what changed outside Ferry since the state recorded it, and
    /// nothing proposed (SPEC §11). Exit 0 no drift, 2 drift with `--detailed-exitcode`, 1 when
    /// the plan is invalid or a resource could not be checked.
    func refreshOnly() throws -> Int32 {
        for flag in ["--out", "--replace"] where args.value(flag) != nil {
            throw FerryError(.invalidParameter, "ferry plan --refresh-only proposes nothing, so it takes no \(flag)",
                             hint: "run `ferry plan \(flag) ...` without --refresh-only")
        }
        try args.check(allowedSwitches: ["--detailed-exitcode", "--refresh-only"],
                       allowedValues: ["--target", "--exclude", "--format", "--allow-outside"], command: "plan")
        let format = args.value("--format") ?? "text"
        guard ["text", "json", "markdown"].contains(format) else {
            throw FerryError(.invalidParameter, "unknown format \(format)", hint: "use text, json or markdown")
        }
        try backend.ensureNoInterruptedRun()
        let plan = try loadPlan(planPath())
        let state = try backend.readState()
        let options = try planOptions()
        let facts = refresher().refresh(plan, only: options.selection(in: plan), committed: state.committedFingerprints)
        var report = Planner(plan: plan, facts: facts, state: state, engines: engines, options: options).drift()
        // A drift check is a plan too: what a rollback left for the user is named here as well.
        report.warnings = KeptTargets.notes(backend: backend, engines: engines, instances: plan.instances,
                                            unreachable: Set(facts.unreachable.keys))
        switch format {
        case "json": console.out(try DriftRenderer.json(report))
        case "markdown": console.out(DriftRenderer.markdown(report))
        default: console.out(DriftRenderer.text(report, palette: console.palette))
        }
        if !report.unchecked.isEmpty { return 1 }
        return args.has("--detailed-exitcode") && !report.findings.isEmpty ? 2 : 0
    }

    func show() throws -> Int32 {
        try args.check(allowedSwitches: [], allowedValues: ["--format"], command: "show")
        guard let path = args.positional.first else {
            throw FerryError(.invalidParameter, "ferry show needs a saved plan FILE", hint: "ferry plan --out FILE writes one")
        }
        guard let saved = savedPlan(at: path) else {
            throw FerryError(.invalidParameter, "\(path) is not a saved plan", hint: "ferry plan --out FILE writes one")
        }
        let document = saved.document
        let graph = ActionGraph(actions: document.actions)
        switch args.value("--format") ?? "text" {
        case "json": console.out(try document.encoded())
        case "markdown": console.out(MarkdownRenderer.render(changes: document.changes, graph: graph, diagnostics: document.diagnostics))
        case "text":
            console.line(console.palette.dim("Saved plan from \(Format.time(saved.createdAt)), plan \(saved.planPath), state serial \(saved.stateSerial)."))
            console.out(TextRenderer(palette: console.palette).render(changes: document.changes, graph: graph, diagnostics: document.diagnostics))
        case let other: throw FerryError(.invalidParameter, "unknown format \(other)", hint: "use text, json or markdown")
        }
        return 0
    }

    func graph() throws -> Int32 {
        try args.check(allowedSwitches: [], allowedValues: ["--format", "--target", "--exclude", "--replace", "--allow-outside"], command: "graph")
        let format = args.value("--format") ?? "dot"
        guard ["dot", "mermaid", "json"].contains(format) else {
            throw FerryError(.invalidParameter, "unknown format \(format)", hint: "use dot, mermaid or json")
        }
        let graph: ActionGraph
        if let path = args.positional.first, let saved = savedPlan(at: path) {
            graph = ActionGraph(actions: saved.document.actions)
        } else {
            try backend.ensureNoInterruptedRun()
            let plan = try loadPlan(planPath())
            let (_, result) = makePlan(plan, state: try backend.readState(), options: try planOptions())
            if result.hasErrors {
                console.report(result.diagnostics)
                return 1
            }
            graph = result.graph
        }
        switch format {
        case "mermaid": console.out(GraphRenderer.mermaid(graph))
        case "json": console.out(String(decoding: try JSONEncoder.ferry.encode(graph), as: UTF8.self) + "\n")
        default: console.out(GraphRenderer.dot(graph))
        }
        return 0
    }

    func fmt() throws -> Int32 {
        try args.check(allowedSwitches: ["--check"], allowedValues: [], command: "fmt")
        let paths = args.positional.isEmpty ? ["plans"] : args.positional
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw FerryError(.invalidParameter, "no such file or directory: \(path)")
            }
            if isDirectory.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".json") }.sorted()
                files += names.map { (path as NSString).appendingPathComponent($0) }
            } else {
                files.append(path)
            }
        }
        var unformatted: [String] = []
        var errors: [Diagnostic] = []
        for file in files {
            do {
                try PlanLoader.requireRegularFile(absolute(file), shown: file)
            } catch {
                errors += error.diagnostics
                continue
            }
            guard let data = FileManager.default.contents(atPath: file) else {
                errors.append(Diagnostic(.invalidParameter, "cannot read \(file)"))
                continue
            }
            do {
                // Strictly UTF-8, as `validate` reads it: a lossy decode would write U+FFFD over the
                // bytes it could not read.
                let text = try PlanLoader.decodeText(data, file: file)
                let formatted = try PlanFormatter.format(text, file: file)
                guard formatted != text else { continue }
                unformatted.append(file)
                if !args.has("--check") {
                    try DurableFile.writeAtomically(Data(formatted.utf8), to: file)
                    let attributes = [FileAttributeKey.posixPermissions: 0o644]
                    try? FileManager.default.setAttributes(attributes, ofItemAtPath: file)
                }
            } catch let error as FerryError {
                errors += error.diagnostics
            }
        }
        console.report(errors)
        for file in unformatted { console.line(file) }
        if !errors.isEmpty { return 1 }
        return args.has("--check") && !unformatted.isEmpty ? 2 : 0
    }

    func explain() throws -> Int32 {
        guard let name = args.positional.first else {
            for code in ErrorCode.allCases { console.line(code.rawValue) }
            return 0
        }
        guard let code = ErrorCode.named(name) else {
            throw FerryError(.invalidParameter, "no error code \(name)", hint: "`ferry explain` lists them")
        }
        console.line(console.palette.bold(code.rawValue))
        console.line(code.explanation)
        return 0
    }

    func initProject() throws -> Int32 {
        let directory = (absolute(args.positional.first ?? ".") as NSString).standardizingPath
        let plans = (directory as NSString).appendingPathComponent("plans")
        try requireDirectoryPath(directory, shown: args.positional.first ?? ".")
        try requireDirectoryPath(plans + "/data", shown: plans + "/data")
        try DurableFile.makeDirectory(plans + "/data")
        try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plans)
        try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plans + "/data")
        var created: [String] = []
        func write(_ path: String, _ text: String) throws {
            guard !FileManager.default.fileExists(atPath: path) else { return }
            do { try DurableFile.writeAtomically(Data(text.utf8), to: path) } catch {
                throw SystemError.error("cannot write", path: path, from: error)
            }
            try? FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
            created.append(path)
        }
        // The schema lies beside plans/, not in it: every *.json file in plans/ is read as a plan.
        try write((directory as NSString).appendingPathComponent("plan.schema.json"), PlanJSONSchema.text())
        // Written in `ferry fmt`'s canonical form, so that `ferry fmt --check` passes on a fresh project.
        try write(plans + "/main.json", try PlanFormatter.format("""
        {
          "$schema": "../plan.schema.json",
          "ferry": 1,
          "instances": {
            "dev": { "engine": "sqlite", "path": "../var/dev" },
            "test": { "engine": "sqlite", "path": "../var/test" }
          },
          "imports": {
            "seed": { "into": "dev", "database": "app", "from": "data/app.sql" }
          },
          "copies": {
            "dev-to-test": { "from": "dev", "to": "test", "databases": { "app": "app_test" } }
          }
        }

        """, file: "plans/main.json"))
        try write(plans + "/data/app.sql", """
        CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        INSERT INTO users(name) VALUES ('ada'), ('grace');

        """)
        let gitignore = (directory as NSString).appendingPathComponent(".gitignore")
        let existing = FileManager.default.contents(atPath: gitignore).map { String(decoding: $0, as: UTF8.self) } ?? ""
        if !existing.split(separator: "\n").contains(where: { $0 == ".ferry/" || $0 == "/.ferry/" }) {
            let prefix = existing.isEmpty || existing.hasSuffix("\n") ? existing : existing + "\n"
            do { try DurableFile.writeAtomically(Data((prefix + ".ferry/\nvar/\n").utf8), to: gitignore) } catch {
                throw SystemError.error("cannot write", path: gitignore, from: error)
            }
            try? FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: gitignore)
            created.append(gitignore)
        }
        for path in created { console.line("created \(path)") }
        console.line("Next: ferry plan")
        return 0
    }

    /// Refuses a directory `init` must create or use when it, or a directory above it, is something
    /// else (a regular file, a FIFO...): `InvalidParameter` naming that path, before anything is written.
    func requireDirectoryPath(_ path: String, shown: String) throws {
        var current = (path as NSString).standardizingPath
        while current != "/" && !current.isEmpty {
            if let kind = FileKind.of(current) {
                if kind == .directory { return }
                throw FerryError(.invalidParameter, "cannot use \(shown) as a project directory: \(current) is \(kind.description), not a directory",
                                 hint: "give `ferry init` a directory (or a path that does not exist yet)")
            }
            current = (current as NSString).deletingLastPathComponent
        }
    }
}
